"""Pre-training task: every method trains, the loss falls, a killed run resumes exactly."""

import textwrap

import lightning as L
import pytest
import torch

from handkit.cli import main
from handkit.data.synth.runner import synthesize
from handkit.tasks.pretrain import PretrainConfig, build_task, export_encoder, pretrain
from handkit.tasks.pretrain_data import DataSource
from handkit.utils.config import load_config


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    root = tmp_path_factory.mktemp("fh")
    synthesize("freihand", root, n=16, seed=3, workers=1, progress=False)
    return root


def _cfg(pool, *overrides):
    return load_config(PretrainConfig, None, [
        "encoder=resnet18", "augment.output_size=[32,32]", "data.batch_size=8",
        "data.num_workers=0", "data.samples_per_epoch=16", "trainer.accelerator=cpu",
        "trainer.devices=1", "trainer.max_epochs=2", "trainer.progress_bar=false",
        "trainer.log_every_n_steps=1", "optim.warmup_epochs=0", "channels_last=false",
        *overrides], {"data.sources": [DataSource(root=str(pool))]})


def _weights(path):
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def test_killed_run_resumes_to_the_same_weights(pool, tmp_path, stop_after_first_epoch):
    cfg = _cfg(pool, "method=peclr", "loss.weighting=linear")
    straight = pretrain(cfg, tmp_path / "a")
    pretrain(cfg, tmp_path / "b", callbacks=[stop_after_first_epoch])
    stopped = _weights(tmp_path / "b" / "encoder_torchvision.pth")
    resumed = pretrain(cfg, tmp_path / "b", resume=True)
    a, b = _weights(straight), _weights(resumed)
    assert any(not torch.equal(stopped[k], a[k]) for k in a)  # the kill did lose epoch 1
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=0, atol=1e-6, msg=key)


def test_resume_without_checkpoint_is_a_clear_error(pool, tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        pretrain(_cfg(pool), tmp_path / "fresh", resume=True)


def test_simhand_refuses_a_pool_without_mined_pairs(pool, tmp_path):
    with pytest.raises(ValueError, match="mined positives need a Hand100M"):
        pretrain(_cfg(pool, "method=simhand"), tmp_path / "s")


@pytest.mark.parametrize("method,weighting", [("simclr", "none"), ("peclr", "none"),
                                              ("peclr", "non_linear")])
def test_the_training_loss_has_its_true_gradient(pool, method, weighting, assert_descends):
    """The whole training step (augmentation, encoder, head, weights, loss) is differentiable:
    a small step along -grad lowers the loss by its first-order amount. Guaranteed, unlike a few
    Adam steps (BLAS-dependent trajectory). The loss is float32 (~1e-7 relative round-off), so
    the step is sized for a first-order decrease of 1e-3, far above it; BN in eval mode."""
    cfg = _cfg(pool, f"method={method}", f"loss.weighting={weighting}",
               "loss.lambda_pos=1.0", "loss.lambda_neg=0.01")
    torch.manual_seed(0)
    task = build_task(cfg).eval()
    from handkit.data.hands import collate_items
    from handkit.tasks.pretrain_data import ViewPairs, _open
    pairs = ViewPairs(_open(cfg.data.sources[0], "same"))
    batch = collate_items([pairs[i] for i in range(8)])
    # global_step stays 0 without a trainer: every call draws the same augmentation
    assert_descends(lambda: task.training_step(batch, 0), task.parameters(), decrease=1e-3,
                    rel=0.25)


def test_export_encoder_round_trips_into_torchvision(pool, tmp_path, capsys):
    import torchvision

    cfg = _cfg(pool, "trainer.max_epochs=1", "method=simclr")
    pretrain(cfg, tmp_path / "run")
    out = export_encoder(tmp_path / "run" / "checkpoints" / "last.ckpt", tmp_path / "enc.pth",
                         container="top")
    net = torchvision.models.resnet18(weights=None)
    missing, unexpected = net.load_state_dict(torch.load(out, weights_only=True), strict=False)
    assert sorted(missing) == ["fc.bias", "fc.weight"] and not unexpected
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    torch.testing.assert_close(net.conv1.weight, ckpt["state_dict"]["encoder.conv1.weight"])
    for container in ("state_dict", "top"):  # the printed hint loads what was written
        assert main(["export-encoder", "--ckpt", str(tmp_path / "run/checkpoints/last.ckpt"),
                     "--out", str(tmp_path / f"{container}.pth"), "--container", container]) == 0
        scope = {}
        exec(textwrap.dedent(capsys.readouterr().out.split("with:\n", 1)[1]), scope)
        torch.testing.assert_close(scope["net"].conv1.weight,
                                   ckpt["state_dict"]["encoder.conv1.weight"])


@pytest.mark.slow
def test_ddp_two_cpu_processes_end_with_identical_weights(pool, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).with_name("_ddp_pretrain_script.py")
    done = subprocess.run([sys.executable, str(script), str(pool), str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    saved = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    L.seed_everything(5, verbose=False)  # pretrain() seeds 5 before building: the initial weights
    initial = build_task(_cfg(pool, "method=peclr", "channels_last=false")).state_dict()
    params = [k for k, _ in build_task(_cfg(pool)).named_parameters()]
    for key in params:  # DDP averages gradients: parameters agree exactly on both ranks
        torch.testing.assert_close(rank0[key], rank1[key], rtol=0, atol=0, msg=key)
        torch.testing.assert_close(saved[key], rank0[key], rtol=0, atol=0, msg=key)
    assert any(not torch.equal(initial[k], rank0[k]) for k in params)
    # BatchNorm running statistics are per-rank buffers; the checkpoint keeps rank 0's, as
    # DataParallel kept device 0's in the official runs.
    torch.testing.assert_close(saved["encoder.bn1.running_mean"], rank0["encoder.bn1.running_mean"])
