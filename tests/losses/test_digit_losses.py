"""DIGIT's 2.5D targets and loss terms against hand-derived values (specs/digit.md §2.1-2.2)."""

import math

import pytest
import torch

from handkit.losses.digit import (BONES, LOSS_WEIGHTS, DigitTargets, bone_loss, decode_depth,
                                  digit_loss, encode_25d, encode_depth, from_interhand42,
                                  hand_type_loss, hand_type_target, joint_l1_loss, lift_25d,
                                  rel_root_depth_loss, segmentation_loss, to_interhand42)


def test_interhand_layout_puts_the_wrists_at_20_and_41_and_round_trips():
    hands = torch.arange(2 * 2 * 21 * 3, dtype=torch.float32).reshape(2, 2, 21, 3)
    j42 = to_interhand42(hands)
    assert torch.equal(j42[:, 20], hands[:, 0, 0]) and torch.equal(j42[:, 41], hands[:, 1, 0])
    # InterHand index 0 is the right thumb tip = handkit joint 4
    assert torch.equal(j42[:, 0], hands[:, 0, 4]) and torch.equal(j42[:, 21], hands[:, 1, 4])
    assert torch.equal(from_interhand42(j42), hands)
    valid = torch.rand(2, 2, 21) > 0.5
    assert torch.equal(from_interhand42(to_interhand42(valid)), valid)


def test_bones_are_skeleton_txt_bones():
    right, left = BONES
    assert len(right) == len(left) == 20
    assert (0, 1) in right and (3, 20) in right and (19, 20) in right  # tip->..., MCP->wrist
    assert {(c + 21, p + 21) for c, p in right} == set(left)
    assert all(p != 20 or c in (3, 7, 11, 15, 19) for c, p in right)


def _frame(z_rel_right=0.0, z_rel_left=0.0, rel=0.05):
    uv = torch.full((1, 42, 2), 100.0)
    z = torch.full((1, 42), 0.7)
    z[0, 21:] = 0.7 + rel
    z[0, 0] += z_rel_right
    z[0, 21] += z_rel_left
    return uv, z


def test_encode_hand_derived():
    uv, z = _frame(z_rel_right=0.1, z_rel_left=-0.2, rel=0.05)
    uv[0, 5] = torch.tensor([128.0, 64.0])
    t = encode_25d(uv, z, torch.ones(1, 42, dtype=torch.bool), torch.tensor([True]))
    assert t.joints[0, 5].tolist() == pytest.approx([32.0, 16.0, 32.0])  # ·64/256, z_rel 0
    assert t.joints[0, 0, 2].item() == pytest.approx(48.0)  # (0.1/0.2 + 1)/2·64
    assert t.joints[0, 21, 2].item() == pytest.approx(0.0, abs=1e-4)  # −0.2 m -> bin 0
    assert t.rel_root.item() == pytest.approx(40.0)  # (0.05/0.2 + 1)/2·64
    assert bool(t.root_valid) and t.joint_valid.all()


def test_encode_culls_depth_patch_roots_and_non_interacting():
    uv, z = _frame(z_rel_right=0.21)  # beyond +200 mm: z_hm >= 64
    uv[0, 7] = torch.tensor([256.0, 10.0])  # x = P is outside [0, P)
    valid = torch.ones(1, 42, dtype=torch.bool)
    valid[0, 41] = False  # left root invalid -> the whole left hand
    t = encode_25d(uv, z, valid, torch.tensor([True]))
    assert not t.joint_valid[0, 0] and not t.joint_valid[0, 7]
    assert not t.joint_valid[0, 21:].any() and t.joint_valid[0, 8:21].all()
    assert not t.root_valid.any()
    single = encode_25d(*_frame(), torch.ones(1, 42, dtype=torch.bool), torch.tensor([False]))
    assert not single.root_valid.any()  # a single-hand frame has no root target
    far = encode_25d(*_frame(rel=0.2), torch.ones(1, 42, dtype=torch.bool), torch.tensor([True]))
    assert not far.root_valid.any()  # rel_hm = 64 is outside [0, 64)


def test_depth_decoding_inverts_and_lifting_back_projects():
    z = torch.tensor([-0.2, -0.05, 0.0, 0.13])
    assert torch.allclose(decode_depth(encode_depth(z)), z, atol=1e-7)
    assert encode_depth(torch.tensor(0.1), depth_range=400.0).item() == pytest.approx(32.016)
    K = torch.tensor([[100.0, 0, 50], [0, 200.0, 40], [0, 0, 1]])
    uv = torch.full((1, 21, 2), 50.0)
    uv[0, 3] = torch.tensor([150.0, 0.0])
    z_rel = torch.zeros(1, 21)
    z_rel[0, 3] = 0.5
    xyz = lift_25d(uv, z_rel, K, torch.tensor([2.0]))
    # Z = 2.5; X = (150 − 50)/100·2.5 = 2.5; Y = (0 − 40)/200·2.5 = −0.5
    assert xyz[0, 3].tolist() == pytest.approx([2.5, -0.5, 2.5])
    assert xyz[0, 0].tolist() == pytest.approx([0.0, 0.1, 2.0])  # (50 − 40)/200·2


def test_joint_l1_counts_invalid_entries_in_the_denominator():
    pred, target = torch.zeros(2, 42, 3), torch.zeros(2, 42, 3)
    target[0, 4, 1] = 3.0
    target[1, 9, 0] = 100.0  # invalid: adds nothing
    valid = torch.ones(2, 42)
    valid[1, 9] = 0
    assert joint_l1_loss(pred, target, valid).item() == pytest.approx(3.0 / (2 * 42 * 3))


def test_rel_root_and_hand_type_terms():
    rel = rel_root_depth_loss(torch.tensor([10.0, 0.0]), torch.tensor([12.0, 4.0]),
                              torch.tensor([True, False]))
    assert rel.item() == pytest.approx(2.0 / 2)
    target = hand_type_target(["right", "interacting"])
    assert target.tolist() == [[1.0, 0.0], [1.0, 1.0]]
    logits = torch.tensor([[0.0, 0.0], [2.0, -1.0]])
    ht = hand_type_loss(logits, target, torch.tensor([1.0, 1.0]))
    second = (math.log1p(math.exp(-2.0)) + math.log1p(math.exp(1.0))) / 2  # BCE of 2, -1 vs 1
    assert ht.item() == pytest.approx((math.log(2) + second) / 2)
    assert hand_type_loss(logits, target, torch.tensor([1.0, 0.0])).item() == \
        pytest.approx(math.log(2) / 2)
    with pytest.raises(ValueError, match=r"hand_type\[1\]"):
        hand_type_target(["left", "both"])


def test_segmentation_masks_samples_without_labels_but_keeps_them_in_the_mean():
    logits = torch.zeros(2, 33, 4, 4)
    target = torch.zeros(2, 4, 4, dtype=torch.long)
    target[0, 0, 0] = 17
    uniform = segmentation_loss(logits, target, torch.tensor([1.0, 1.0]))
    assert uniform.item() == pytest.approx(math.log(33))
    assert segmentation_loss(logits, target, torch.tensor([1.0, 0.0])).item() == \
        pytest.approx(math.log(33) / 2)
    confident = torch.zeros(1, 33, 1, 2)
    confident[0, 5, 0, 0] = 10.0  # pixel 0: class 5 at logit 10, CE = log(1 + 32 e^-10)
    confident[0, 5, 0, 1] = 10.0  # pixel 1: the label is 0, CE = log(e^10 + 32)
    ce = segmentation_loss(confident, torch.tensor([[[5, 0]]]), torch.tensor([1.0]))
    expected = (math.log(1 + 32 * math.exp(-10)) + math.log(math.exp(10) + 32)) / 2
    assert ce.item() == pytest.approx(expected)


def test_bone_loss_hand_derived():
    target = torch.randn(1, 42, 3)
    pred = target.clone()
    pred[0, 0, 0] += 1.0  # right thumb tip: one bone (0, 1) off by (1, 0, 0)
    assert bone_loss(pred, target, torch.ones(1, 42)).item() == pytest.approx(1 / 60, rel=1e-5)
    pred = target.clone()
    pred[0, 41, 2] += 2.0  # left wrist: the 5 bones hanging from it, each off by 2 in z
    assert bone_loss(pred, target, torch.ones(1, 42)).item() == pytest.approx(5 * 4 / 60,
                                                                               rel=1e-5)
    valid = torch.ones(1, 42)
    valid[0, 24] = 0  # l_thumb1: bone (24, 41) no longer counts
    assert bone_loss(pred, target, valid).item() == pytest.approx(4 * 4 / 60, rel=1e-5)


def test_digit_loss_weights_the_terms_officially():
    b = 2
    joints = torch.zeros(b, 42, 3)
    target = DigitTargets(torch.ones(b, 42, 3), torch.ones(b, 42, dtype=torch.bool),
                          torch.full((b,), 30.0), torch.ones(b, dtype=torch.bool))
    terms = digit_loss(joints, torch.full((b,), 32.0), torch.zeros(b, 2), torch.zeros(b, 33, 2, 2),
                       target=target, hand_type=torch.ones(b, 2), hand_type_valid=torch.ones(b),
                       segm=torch.zeros(b, 2, 2, dtype=torch.long), segm_valid=torch.ones(b))
    assert terms.joint.item() == pytest.approx(1.0) and terms.bone.item() == pytest.approx(0.0)
    assert terms.rel_root_depth.item() == pytest.approx(2.0)
    expected = 1.0 + 2.0 + math.log(2) + 10 * math.log(33) + 0.0
    assert terms.total.item() == pytest.approx(expected)
    assert LOSS_WEIGHTS == {"joint": 1, "rel_root_depth": 1, "hand_type": 1, "segm": 10,
                            "bone": 0.1}


def test_lift_42_uses_each_hands_root_depth():
    from handkit.losses.digit import lift_42

    K = torch.tensor([[100.0, 0, 0], [0, 100.0, 0], [0, 0, 1]])
    joints = torch.zeros(1, 42, 3)
    joints[..., 2] = 32.0  # z_rel = 0
    joints[0, 0] = torch.tensor([25.0, 0.0, 48.0])  # x = 100 px at stride 4; z_rel = +0.1 m
    joints[0, 21] = torch.tensor([25.0, 0.0, 32.0])
    xyz = lift_42(joints, K, torch.tensor([[0.5, 0.9]]), px_per_hm=4)
    assert xyz[0, 0].tolist() == pytest.approx([0.6, 0.0, 0.6])  # X = 100/100 · (0.5 + 0.1)
    assert xyz[0, 21].tolist() == pytest.approx([0.9, 0.0, 0.9])  # the left root's depth


def test_batch_mpjpe_root_aligns_and_skips_roots():
    from handkit.eval.interhand import batch_mpjpe

    gt = torch.zeros(2, 42, 3, dtype=torch.float64)
    pred = gt.clone()
    pred[0, :21] += 0.5  # a whole hand shifted: 0 after alignment
    pred[0, 3, 0] += 0.004  # 4 mm
    pred[1, 30, 1] += 0.002  # 2 mm, but frame 1's left root is invalid: not counted
    valid = torch.ones(2, 42, dtype=torch.bool)
    valid[1, 41] = False
    n = 40 + 20  # frame 0: 40 non-root joints; frame 1: the right hand's 20
    assert batch_mpjpe(pred, gt, valid).item() == pytest.approx(4.0 / n)


def test_depth_bins_set_the_scale_of_z_in_targets_lifting_and_the_model():
    """With d = 16 bins (the CPU twin's 64 px crop: the heat-map side, the official ratio)
    z_rel = +0.1 m is bin (0.1 / 0.2 + 1) / 2 · 16 = 12, and bin 12 lifts back to +0.1 m;
    with the official 64 bins the same bin would be −0.125 m."""
    from handkit.losses.digit import lift_42
    from handkit.models.registry import create_model

    uv, z = _frame()
    z = z.clone()
    z[0, 5] = z[0, 20] + 0.1  # a right-hand joint 0.1 m behind its root
    t = encode_25d(uv, z, torch.ones(1, 42, dtype=torch.bool), torch.tensor([True]),
                   depth_bins=16)
    assert float(t.joints[0, 5, 2]) == pytest.approx(12.0)
    assert float(t.joints[0, 20, 2]) == pytest.approx(8.0)
    K = torch.eye(3, dtype=torch.float64)
    joints = torch.zeros(1, 42, 3, dtype=torch.float64)
    joints[..., 2] = 12.0
    roots = torch.tensor([[0.5, 0.5]], dtype=torch.float64)
    assert float(lift_42(joints, K, roots, px_per_hm=4, depth_bins=16)[0, 0, 2]) == \
        pytest.approx(0.6)
    assert float(lift_42(joints, K, roots, px_per_hm=4)[0, 0, 2]) == pytest.approx(0.375)
    model = create_model("digit", backbone="stem4", image_size=64, size="small", depth_bins=16)
    assert model.depth_bins == 16 and model.cfg.options["depth_bins"] == 16
    out = type("Out", (), {"joints": joints.float()})()
    xyz = model.decode(out, K.float()[None], roots.float())[1]
    assert float(xyz[0, 0, 0, 2]) == pytest.approx(0.6)  # right wrist (handkit order)
    assert "depth_bins" not in create_model("digit", backbone="stem4", image_size=64,
                                            size="small").cfg.options
    with pytest.raises(ValueError, match="depth_bins"):
        create_model("digit", backbone="stem4", image_size=64, size="small", depth_bins=0)
