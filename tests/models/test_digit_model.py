"""DIGIT's network (specs/digit.md §1): decoding by hand, sizes, names, contract."""

import pytest
import torch

from handkit.geometry.camera import project
from handkit.losses.digit import DigitTargets, decode_depth, from_interhand42
from handkit.models.digit import (DigitModel, convert_released_state_dict, soft_argmax_1d,
                                  soft_argmax_2d)
from handkit.models.prediction import Prediction
from handkit.models.registry import create_model, list_models


def test_soft_argmax_2d_reads_cell_centres():
    hm = torch.full((1, 2, 4, 6), -1e4)
    hm[0, 0, 2, 5] = 0.0  # one peak: row 2, column 5
    hm[0, 1, 1, 1] = hm[0, 1, 1, 3] = 0.0  # two equal peaks on row 1
    depth = torch.zeros(1, 2, 4, 6)
    depth[0, 1, 1, 1], depth[0, 1, 1, 3] = 10.0, 20.0
    xy, prob, z = soft_argmax_2d(hm, depth)
    assert xy[0, 0].tolist() == pytest.approx([5.5, 2.5])
    assert xy[0, 1].tolist() == pytest.approx([2.5, 1.5])  # mean of 1.5 and 3.5
    assert z[0].tolist() == pytest.approx([0.0, 15.0])  # expectation of the depth map
    assert prob.sum((2, 3))[0].tolist() == pytest.approx([1.0, 1.0])
    flat = soft_argmax_2d(torch.zeros(1, 1, 4, 6))[0]
    assert flat[0, 0].tolist() == pytest.approx([3.0, 2.0])  # uniform: the grid's centre


def test_soft_argmax_1d_has_no_half_bin():
    logits = torch.full((2, 64), -1e4)
    logits[0, 0] = 0.0
    logits[1, 2] = logits[1, 4] = 0.0
    assert soft_argmax_1d(logits).tolist() == pytest.approx([0.0, 3.0])


@pytest.fixture(scope="module")
def small():
    torch.manual_seed(0)
    return create_model("digit", backbone="stem4", image_size=64, size="small")


def test_small_variant_shapes(small):
    out = small(torch.rand(2, 3, 64, 64))
    assert out.joints.shape == (2, 42, 3) and out.hm_2d.shape == (2, 42, 16, 16)
    assert out.segm_logits.shape == (2, 33, 32, 32) and out.root_logits.shape == (2, 64)
    assert out.rel_root.shape == (2,) and out.hand_logits.shape == (2, 2)
    assert ((out.joints[..., :2] > 0) & (out.joints[..., :2] < 16)).all()


def test_contract_prediction_has_two_hands_with_handedness_scores(small):
    assert "digit" in list_models() and isinstance(small, DigitModel)
    assert small.cfg.options == {"size": "small"} and small.frame == "camera" and small.uses_K
    img = small.preprocess(torch.full((2, 3, 64, 64), 255, dtype=torch.uint8))
    assert img.max().item() == 1.0  # RGB / 255, no mean/std (§1.1)
    K = torch.tensor([[80.0, 0, 32], [0, 80.0, 32], [0, 0, 1]]).repeat(2, 1, 1)
    small.eval()
    pred = small.predict(img, K, root_depth=torch.tensor([0.6, 0.8]))
    out = small(img)
    assert isinstance(pred, Prediction) and [len(h) for h in pred.hands] == [2, 2]
    probs = torch.sigmoid(out.hand_logits)
    for i in range(2):
        right, left = pred.hands[i]
        assert right.is_right and not left.is_right
        assert (right.score, left.score) == pytest.approx(probs[i].tolist())
        assert right.frame == "camera" and right.unit == "m"
        uv = from_interhand42(out.joints[..., :2] * 4)[i]  # hm units -> 64-px crop pixels
        assert torch.allclose(right.uv, uv[0], atol=1e-5) and torch.allclose(left.uv, uv[1],
                                                                                atol=1e-5)
        for hand in (right, left):  # the 3D lies on the rays of the 2D
            assert torch.allclose(project(hand.xyz[None], K[i])[0], hand.uv, atol=1e-3)
    # depths: right root depth + its decoded z_rel; left: right + the relative root depth
    z = from_interhand42(decode_depth(out.joints[..., 2])[..., None])[..., 0]
    rel = decode_depth(out.rel_root)
    assert torch.allclose(pred.hands[1][0].xyz[:, 2], 0.8 + z[1, 0], atol=1e-5)
    assert torch.allclose(pred.hands[1][1].xyz[:, 2], 0.8 + rel[1] + z[1, 1], atol=1e-5)
    assumed = small.predict(img, K)
    assert assumed.hands[0][0].extras["root_depth"] == "assumed"


def test_pose_losses_reach_the_segmentation_branch(small):
    small.train()
    b = 2
    target = DigitTargets(torch.rand(b, 42, 3) * 16, torch.ones(b, 42, dtype=torch.bool),
                          torch.full((b,), 30.0), torch.ones(b, dtype=torch.bool))
    small.zero_grad()
    losses = small.loss(torch.rand(b, 3, 64, 64), target=target, hand_type=torch.ones(b, 2),
                        hand_type_valid=torch.ones(b),
                        segm=torch.zeros(b, 32, 32, dtype=torch.long),
                        segm_valid=torch.zeros(b))  # no masks: only the pose terms train
    assert losses["segm"].item() == 0.0
    losses["loss"].backward()
    grad = small.pose_reg.hand_segm.segm_head.segm_net.double_conv[3].weight.grad
    assert grad is not None and grad.abs().sum() > 0  # fusion of raw logits: no detach


def test_released_key_names_convert_and_load_strictly(small):
    own = small.state_dict()
    released = {"model." + k.replace("backbone.net.", "backbone."): v for k, v in own.items()}
    converted = convert_released_state_dict(released, small)
    assert set(converted) == set(own)
    small.load_state_dict(converted, strict=True)


@pytest.mark.slow
def test_official_sizes_and_key_count():
    model = create_model("digit")  # hrnet_w32, 256 px (builds ~40M parameters)
    net = model.pose_reg
    sizes = {name: sum(p.numel() for p in m.parameters()) for name, m in net.named_children()}
    assert sizes == {"backbone": 28_535_552, "hand_segm": 43_005, "conv_segm_feat": 314_496,
                     "merge_layer": 4_631_264, "conv_hm": 22_890, "conv_depth": 22_890,
                     "conv_head": 6_582_208, "root_fc": 295_488, "hand_fc": 263_682}
    assert sum(sizes.values()) == 40_711_475
    assert len(net.state_dict()) == 1903  # spec §1.7: the released file's key count
    assert sum(b.numel() for b in net.buffers()) == 59_095
    # the released names: pose_reg.<official child>..., HRNet keys without timm's "net."
    released = {"model." + k.replace("backbone.net.", "backbone."): v
                for k, v in model.state_dict().items()}
    assert "model.pose_reg.backbone.stage4.2.fuse_layers.0.3.0.weight" in released
    model.load_state_dict(convert_released_state_dict(released, model), strict=True)


@pytest.mark.parametrize("segmentation", ["auxiliary", "none"])
def test_ablation_variants(segmentation):
    torch.manual_seed(0)
    model = create_model("digit", backbone="stem4", image_size=64, size="small",
                         segmentation=segmentation)
    assert model.cfg.options == {"size": "small", "segmentation": segmentation}
    net = model.pose_reg
    assert not hasattr(net, "conv_segm_feat")  # nothing fused
    assert hasattr(net, "hand_segm") == (segmentation == "auxiliary")
    assert net.merge_layer.inc.double_conv[0].in_channels == net.backbone.out_channels
    b = 2
    target = DigitTargets(torch.rand(b, 42, 3) * 16, torch.ones(b, 42, dtype=torch.bool),
                          torch.full((b,), 30.0), torch.ones(b, dtype=torch.bool))
    kw = dict(target=target, hand_type=torch.ones(b, 2), hand_type_valid=torch.ones(b),
              segm=torch.ones(b, 32, 32, dtype=torch.long))
    model.zero_grad()
    pose_only = model.loss(torch.rand(b, 3, 64, 64), segm_valid=torch.zeros(b), **kw)
    pose_only["loss"].backward()
    if segmentation == "none":
        assert model(torch.rand(1, 3, 64, 64)).segm_logits is None
        assert pose_only["segm"].item() == 0.0
    else:  # the branch is trained by its own loss only: pose losses do not reach it
        grads = [p.grad for p in net.hand_segm.parameters()]
        assert all(g is None or g.abs().sum() == 0 for g in grads)
        with_masks = model.loss(torch.rand(b, 3, 64, 64), segm_valid=torch.ones(b), **kw)
        assert with_masks["segm"].item() > 0


def test_resnet18_s4_backbone_is_stride_4_and_loads_the_shipped_resnet():
    """The CPU ablation's ResNet-18 trunk (layer1-3 fused at stride 4): DIGIT builds on it, and
    `load_backbone` on the shipped packed checkpoint copies its ResNet-18 weights (layer4 / fc
    unused, the fuse conv left random), the input normalised with ImageNet's mean/std inside."""
    from handkit.models.checkpoint import load_model, shipped_checkpoint
    from handkit.models.digit import ResNetStride4

    torch.manual_seed(0)
    model = create_model("digit", backbone="resnet18_s4", image_size=64, size="small",
                         segmentation="none")
    backbone = model.pose_reg.backbone
    assert isinstance(backbone, ResNetStride4) and backbone.stride == 4
    assert not hasattr(backbone, "layer4")
    fuse_before = backbone.fuse[0].weight.clone()
    report = model.load_backbone(shipped_checkpoint())
    assert report.layout == "packed" and report.loaded > 0
    shipped = load_model()[0].model.backend_model
    assert torch.equal(backbone.layer3[1].conv2.weight, shipped.layer3[1].conv2.weight)
    assert torch.equal(backbone.bn1.running_var, shipped.bn1.running_var)
    assert torch.equal(backbone.fuse[0].weight, fuse_before)
    x = torch.rand(2, 3, 64, 64)
    backbone.eval()  # (a training-mode forward would move the BN statistics)
    assert backbone(x).shape == (2, 64, 16, 16)
    y = shipped.maxpool(shipped.relu(shipped.bn1(shipped.conv1(
        (x - torch.tensor([0.485, 0.456, 0.406])[:, None, None])
        / torch.tensor([0.229, 0.224, 0.225])[:, None, None]))))
    c1 = backbone.layer1(backbone.maxpool(backbone.relu(backbone.bn1(backbone.conv1(
        (x - backbone.mean) / backbone.std)))))
    assert torch.allclose(c1, shipped.layer1(y), atol=1e-5)
    out = model(x)
    assert out.joints.shape == (2, 42, 3) and out.segm_logits is None
