"""Hand-derived values for the fine-tuning losses (specs/pretrain.md §3.1, §3.3)."""

import pytest
import torch

from handkit.losses.keypoints import detnet_loss, l1_25d_loss, l1_3d_loss


def test_l1_25d_hand_computed():
    uv = torch.zeros(2, 21, 2)
    uv_gt = torch.zeros(2, 21, 2)
    uv_gt[0, 3] = torch.tensor([4.0, 2.0])  # |du|+|dv| = 6 on one joint
    z, z_gt = torch.zeros(2, 21), torch.zeros(2, 21)
    z_gt[1, 5] = 0.5
    t = l1_25d_loss(uv, z, uv_gt, z_gt, scale=torch.tensor([1.0, 0.02]))
    assert t.uv.item() == pytest.approx(6 / 42 / 2)  # w = 1/42 per joint
    assert t.z.item() == pytest.approx(0.5 / 42)
    assert t.z_unscaled.item() == pytest.approx(0.5 * 0.02 / 42)


def test_l1_25d_validity_weights_renormalise():
    uv, uv_gt = torch.zeros(1, 21, 2), torch.ones(1, 21, 2)
    uv_gt[0, 0] = 100  # invalid joint: ignored
    valid = torch.ones(1, 21)
    valid[0, 0] = 0
    z = torch.zeros(1, 21)
    t = l1_25d_loss(uv, z, uv_gt, z, valid=valid)
    assert t.uv.item() == pytest.approx(1.0)  # mean |d| over the 20 valid joints' coords
    none = l1_25d_loss(uv, z, uv_gt, z, valid=torch.zeros(1, 21))
    assert none.uv.item() == 0 and torch.isfinite(none.uv)


def test_l1_3d_hand_computed_and_zero_at_truth():
    xyz = torch.randn(3, 21, 3)
    assert l1_3d_loss(xyz, xyz).item() == 0
    shifted = xyz.clone()
    shifted[..., 2] += 0.3
    assert l1_3d_loss(shifted, xyz).item() == pytest.approx(0.1)  # 0.3 on one of 3 coords


def test_shapes_are_checked():
    with pytest.raises(ValueError, match=r"uv_gt: expected \(2, 21, 2\)"):
        l1_25d_loss(torch.zeros(2, 21, 2), torch.zeros(2, 21), torch.zeros(2, 20, 2), torch.zeros(2, 21))
    with pytest.raises(ValueError, match=r"valid: expected \(B, 21\)"):
        l1_3d_loss(torch.zeros(2, 21, 3), torch.zeros(2, 21, 3), valid=torch.ones(2, 21, 1))


def _det_targets(b=2, h=4):
    g = torch.Generator().manual_seed(0)
    hm = torch.rand(b, 21, h, h, generator=g)
    dm = torch.randn(b, 21, 3, h, h, generator=g)
    lm = torch.randn(b, 21, 3, h, h, generator=g)
    return hm, torch.ones(b, 21), dm, lm


def test_detnet_loss_zero_at_truth_positive_otherwise():
    hm, veil, dm, lm = _det_targets()
    has3d = torch.tensor([True, False])
    zero = detnet_loss(hm, dm, lm, hm, veil, dm, lm, has3d)
    assert zero.total.item() == 0
    off = detnet_loss(hm + 0.1, dm, lm + 1, hm, veil, dm, lm, has3d)
    assert off.hm.item() > 0 and off.lm.item() > 0 and off.dm.item() == 0 and off.total > 0


def test_detnet_loss_hand_computed():
    b, h = 2, 4
    hm_gt = torch.zeros(b, 21, h, h)
    hm_gt[0, 0, 1, 1] = 1.0
    veil = torch.ones(b, 21)
    veil[1] = 0  # sample 1's heatmaps do not count
    hm = hm_gt.clone()
    hm[0, 2] += 0.5  # 16 pixels off by 0.5
    hm[1] += 7.0     # veiled
    # hm = Σ_j 0.5 mean_{b,pix}: 0.5 * 16 * 0.25 / (2 * 16) = 0.0625
    zeros = torch.zeros(b, 21, 3, h, h)
    lm = zeros.clone()
    lm[0, 0, :, 1, 1] = torch.tensor([3.0, 4.0, 0.0])  # weighted by the GT heatmap (1 there)
    lm[0, 5] = 9.0  # GT heatmap 0 there: no weight
    t = detnet_loss(hm, zeros, lm, hm_gt, veil, zeros, zeros, torch.tensor([1.0, 1.0]))
    assert t.hm.item() == pytest.approx(0.0625)
    assert t.lm.item() == pytest.approx(5.0 / 2)  # ‖·‖_F = 5, not squared, / B3 = 2
    assert t.total.item() == pytest.approx(100 * 0.0625 + 2.5)


def test_detnet_loss_without_3d_samples_is_finite():
    hm, veil, dm, lm = _det_targets()
    t = detnet_loss(hm, dm + 1, lm + 1, hm, veil, dm, lm, torch.zeros(2))
    assert t.dm.item() == 0 and t.lm.item() == 0


def test_detnet_loss_gradients_are_finite_at_truth():
    hm, veil, dm, lm = _det_targets()
    pred = [x.clone().requires_grad_() for x in (hm, dm, lm)]
    detnet_loss(pred[0], pred[1], pred[2], hm, veil, dm, lm, torch.ones(2)).total.backward()
    assert all(torch.isfinite(p.grad).all() for p in pred)


def test_detnet_loss_checks_shapes():
    hm, veil, dm, lm = _det_targets()
    with pytest.raises(ValueError, match=r"has_3d: expected \(2,\)"):
        detnet_loss(hm, dm, lm, hm, veil, dm, lm, torch.ones(3))
