import math

import pytest
import torch
from torch import nn

from handkit.tasks.optim import (LARS, official_pretrain_name, scaled_base_lr,
                                 warmup_cosine_factor, weight_decay_groups)


def test_warmup_cosine_closed_form_hand_values():
    # warm-up of 5 steps reaches 1 at step 4 (library quirk), cosine over steps 5..15.
    assert warmup_cosine_factor(0, 5, 15) == 0.0
    assert warmup_cosine_factor(2, 5, 15) == pytest.approx(0.5)
    assert warmup_cosine_factor(4, 5, 15) == pytest.approx(1.0)
    assert warmup_cosine_factor(5, 5, 15) == pytest.approx(1.0)
    assert warmup_cosine_factor(10, 5, 15) == pytest.approx(0.5)
    assert warmup_cosine_factor(15, 5, 15) == pytest.approx(0.0, abs=1e-12)
    assert warmup_cosine_factor(20, 5, 15) == pytest.approx(0.5)  # rises again past total
    assert warmup_cosine_factor(0, 0, 10) == pytest.approx(1.0)


def test_scaled_base_lr_matches_the_readme_recipes():
    assert scaled_base_lr(1e-4, 128, 16) == pytest.approx(4.525e-3, rel=1e-3)  # PeCLR
    assert scaled_base_lr(1e-4, 1024, 1) == pytest.approx(3.2e-3)  # SiMHand
    with pytest.raises(ValueError, match="lr_batch"):
        scaled_base_lr(1e-4, 0)


def test_weight_decay_groups_follow_the_name_rule():
    model = nn.Module()
    model.conv = nn.Conv2d(3, 4, 3)
    model.bn1 = nn.BatchNorm2d(4)
    model.head = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
    decay, exempt = weight_decay_groups(model, 1e-6)
    decayed = {id(p) for p in decay["params"]}
    assert id(model.conv.weight) in decayed and id(model.conv.bias) not in decayed
    assert id(model.bn1.weight) not in decayed  # "bn" in the name
    assert id(model.head[1].weight) in decayed  # BN without "bn" in its name: decayed (quirk)
    assert exempt["weight_decay"] == 0.0 and decay["weight_decay"] == 1e-6


def test_official_names_of_a_resnet_and_head_are_the_sequential_ones():
    assert official_pretrain_name("encoder.conv1.weight") == "encoder.features.0.weight"
    assert official_pretrain_name("encoder.bn1.weight") == "encoder.features.1.weight"
    assert official_pretrain_name("encoder.layer1.0.bn1.weight") == "encoder.features.4.0.bn1.weight"
    assert official_pretrain_name("encoder.layer4.0.downsample.1.weight") == \
        "encoder.features.7.0.downsample.1.weight"
    assert official_pretrain_name("head.3.weight") == "projection_head.3.weight"


def test_resnet18_simclr_head_decays_exactly_the_official_parameters():
    """Derived by hand from the official rule (spec §1.7: exempt iff the OFFICIAL name contains
    "bias" or "bn"). Official names: conv1 = features.0, stem bn1 = features.1 (no "bn": its
    scale is decayed), blocks keep bn1/bn2 (exempt), downsample.0 conv and downsample.1 BN
    scale decayed, head Linear/BN1d/Linear = projection_head.0/1/3, all three weights decayed."""
    from handkit.tasks.pretrain import PretrainConfig, build_task

    task = build_task(PretrainConfig(encoder="resnet18", channels_last=False))
    decayed_by_hand = {"encoder.conv1.weight", "encoder.bn1.weight",
                       "head.0.weight", "head.1.weight", "head.3.weight"}
    for layer in (1, 2, 3, 4):
        for block in (0, 1):
            decayed_by_hand |= {f"encoder.layer{layer}.{block}.conv1.weight",
                                f"encoder.layer{layer}.{block}.conv2.weight"}
    for layer in (2, 3, 4):  # the first block of layers 2-4 downsamples
        decayed_by_hand |= {f"encoder.layer{layer}.0.downsample.0.weight",
                            f"encoder.layer{layer}.0.downsample.1.weight"}
    decay, exempt = weight_decay_groups(task, 1e-6)
    names = {id(p): n for n, p in task.named_parameters()}
    assert {names[id(p)] for p in decay["params"]} == decayed_by_hand
    assert len(decayed_by_hand) == 27
    assert len(decay["params"]) + len(exempt["params"]) == len(names)
    assert "encoder.layer1.0.bn1.weight" in {names[id(p)] for p in exempt["params"]}


def _lars_reference_step(p, g, lr, wd, eta=0.02, eps=1e-8):
    """pl_bolts LARSWrapper.update_p followed by plain SGD(lr), written out by hand."""
    p_norm, g_norm = math.sqrt(sum(x * x for x in p)), math.sqrt(sum(x * x for x in g))
    rate = min(eta * p_norm / (g_norm + wd * p_norm + eps) / lr, 1.0)
    return [pi - lr * (gi + wd * pi) * rate for pi, gi in zip(p, g)]


@pytest.mark.parametrize("lr,wd", [(0.1, 0.0), (0.5, 1e-2), (1e-4, 1e-6)])
def test_lars_matches_hand_computation(lr, wd):
    p0, g0 = [3.0, -4.0], [0.3, 0.1]
    p = nn.Parameter(torch.tensor(p0, dtype=torch.float64))
    opt = LARS(torch.optim.SGD([{"params": [p], "weight_decay": wd}], lr=lr))
    p.grad = torch.tensor(g0, dtype=torch.float64)
    opt.step()
    assert p.tolist() == pytest.approx(_lars_reference_step(p0, g0, lr, wd), rel=1e-12)
    assert opt.param_groups[0]["weight_decay"] == wd  # restored after the step


def test_lars_skips_zero_parameters_and_works_with_schedulers():
    p = nn.Parameter(torch.zeros(3))
    opt = LARS(torch.optim.Adam([p], lr=1.0))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: warmup_cosine_factor(s, 3, 10))
    assert opt.param_groups[0]["lr"] == 0.0  # warm-up starts at 0
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5)
    p.grad = torch.ones(3)
    opt.step()
    assert p.abs().sum() > 0  # zero norm: gradient used as-is (no LARS scaling), Adam moved it


def test_lars_follows_the_inner_optimizer_after_load_state_dict():
    """A scheduler writing LRs must reach the inner optimiser after a checkpoint restore."""
    p = nn.Parameter(torch.ones(2))
    opt = LARS(torch.optim.Adam([p], lr=1.0))
    opt.load_state_dict(opt.state_dict())
    opt.param_groups[0]["lr"] = 0.25
    assert opt.optimizer.param_groups[0]["lr"] == 0.25
