"""SMHR's loss terms and CenterNet's targets against hand-derived cases."""

import math

import numpy as np
import pytest
import torch

from handkit.hand.model import mirror_pose
from handkit.losses.centernet import (clamped_sigmoid, draw_umich_gaussian, focal_loss,
                                      gaussian_radius)
from handkit.losses.smhr import (SMHR_POSE_LIMITS_LEFT, SMHR_POSE_LIMITS_RIGHT, SMHR_WEIGHTS,
                                 joints3d_loss,
                                 bone_direction_loss, norm_prior, photometric_loss,
                                 reprojection_loss)


def test_gaussian_radius_of_a_square_box_by_hand():
    # h = w = 10, overlap 0.7. Root 1: b = 20, c = 100·0.3/1.7, (20 + sqrt(400 − 4c))/2 = 19.07;
    # root 2: a = 4, b = 40, c = 30: (40 + sqrt(1600 − 480))/2 = 36.7; root 3: a = 2.8,
    # b = −2·0.7·20 = −28, c = −30: (−28 + sqrt(784 + 336))/2 = 2.733 (CenterNet's /2, not /(2a)).
    assert gaussian_radius(10, 10) == pytest.approx((-28 + math.sqrt(1120)) / 2, abs=1e-12)
    assert int(gaussian_radius(10, 10)) == 2
    # 4 x 8: root 3 = (−16.8 + sqrt(16.8² + 4·2.8·0.3·32))/2 = 1.471, below root 1 (11.5)
    assert gaussian_radius(4, 8) == pytest.approx((-16.8 + math.sqrt(16.8 ** 2 + 107.52)) / 2,
                                                  abs=1e-12)


def test_umich_gaussian_peak_is_one_at_the_integer_centre_and_merges_by_max():
    hm = np.zeros((7, 9))
    draw_umich_gaussian(hm, (4.9, 3.2), 1)  # truncated to cell (x=4, y=3)
    assert hm[3, 4] == 1.0 and hm.max() == 1.0
    # radius 1: diameter 3, sigma 0.5: side neighbours exp(-1/(2*0.25)) = e^-2, corners e^-4
    assert hm[3, 5] == pytest.approx(math.exp(-2)) and hm[2, 4] == pytest.approx(math.exp(-2))
    assert hm[2, 3] == pytest.approx(math.exp(-4)) and hm[3, 6] == 0.0
    assert np.count_nonzero(hm) == 9
    draw_umich_gaussian(hm, (5, 3), 1)  # overlapping peak: elementwise max
    assert hm[3, 5] == 1.0 and hm[3, 4] == 1.0 and hm[3, 6] == pytest.approx(math.exp(-2))
    # clipped at the border, centre outside: unchanged
    edge = draw_umich_gaussian(np.zeros((4, 4)), (0, 0), 2)
    assert edge[0, 0] == 1.0 and edge[2, 2] == pytest.approx(math.exp(-8 / (2 * (5 / 6) ** 2)))
    assert not draw_umich_gaussian(np.zeros((4, 4)), (-3, 1), 1).any()


def test_focal_loss_2x2_by_hand_and_per_sample_normalisation():
    pred = torch.tensor([[[[0.5, 0.25], [0.75, 0.1]]]], dtype=torch.float64)
    gt = torch.tensor([[[[1.0, 0.5], [0.0, 0.0]]]], dtype=torch.float64)
    expected = -(math.log(0.5) * 0.5 ** 2
                 + math.log(0.75) * 0.25 ** 2 * 0.5 ** 4
                 + math.log(0.25) * 0.75 ** 2
                 + math.log(0.9) * 0.1 ** 2)
    assert focal_loss(pred, gt).item() == pytest.approx(expected, rel=1e-12)
    # two samples: per-sample values; the batch version divides the sum by the total N_pos
    gt2 = torch.tensor([[[[1.0, 1.0], [0.0, 0.0]]]], dtype=torch.float64)
    both = focal_loss(torch.cat([pred, pred]), torch.cat([gt, gt2]))
    second = -(math.log(0.5) * 0.25 + math.log(0.25) * 0.75 ** 2
               + math.log(0.25) * 0.75 ** 2 + math.log(0.9) * 0.01) / 2
    assert both.tolist() == pytest.approx([expected, second], rel=1e-12)
    batch = focal_loss(torch.cat([pred, pred]), torch.cat([gt, gt2]), per_sample=False)
    assert batch.item() == pytest.approx((expected + 2 * second) / 3, rel=1e-12)
    # no positive: the negative sum undivided
    zero = focal_loss(pred, torch.zeros_like(gt))
    assert zero.item() == pytest.approx(-sum(math.log(1 - p) * p * p for p in
                                             (0.5, 0.25, 0.75, 0.1)), rel=1e-12)


def test_clamped_sigmoid_bounds():
    out = clamped_sigmoid(torch.tensor([-100.0, 0.0, 100.0]))
    assert out.tolist() == pytest.approx([1e-4, 0.5, 1 - 1e-4])


def test_reprojection_is_a_hundredth_of_the_mean_square():
    uv = torch.zeros(2, 21, 2, dtype=torch.float64)
    gt = uv.clone()
    gt[0, 3] = torch.tensor([3.0, 4.0])  # 9 + 16 = 25 px² over 42 coordinates
    out = reprojection_loss(uv, gt)
    assert out.tolist() == pytest.approx([0.01 * 25 / 42, 0.0])
    valid = torch.zeros(2, 21, dtype=torch.bool)
    valid[0, :2] = True
    valid[0, 3] = True
    assert reprojection_loss(uv, gt, valid)[0].item() == pytest.approx(0.01 * 25 / 6)


def test_bone_direction_by_hand():
    # 2D joints on a line along +x 10 px apart vs the same along +y: every bone's unit vectors
    # differ by 90 degrees: |e1 - e2|² = 2 (up to the 1e-4 softening of the norm)
    pts = torch.zeros(21, 2, dtype=torch.float64)
    for finger in range(5):
        for k in range(4):
            pts[1 + 4 * finger + k] = torch.tensor([10.0 * (k + 1), 0.0])
    rot = pts.flip(-1)
    n = 10.0 / math.sqrt(100 + 1e-4)
    assert bone_direction_loss(pts, rot).item() == pytest.approx(2 * n * n, rel=1e-12)
    assert bone_direction_loss(pts, pts * 3).item() == pytest.approx(0.0, abs=1e-9)
    valid = torch.ones(21, dtype=torch.bool)
    valid[1:] = False  # no bone has both ends valid: 0
    assert bone_direction_loss(pts, rot, valid).item() == 0.0


def test_joints3d_is_root_relative_mm_and_rotation_alignment_forgives_only_the_turn():
    rng = np.random.default_rng(0)
    gt = torch.tensor(rng.normal(0, 0.03, (2, 21, 3)))
    moved = gt + torch.tensor([0.1, -0.2, 0.5], dtype=torch.float64)  # another root place
    assert joints3d_loss(moved, gt).tolist() == pytest.approx([0.0, 0.0], abs=1e-9)
    bent = gt.clone()
    bent[:, 8, 0] += 0.021  # one joint 21 mm off in x: 21 / 63 coordinates = 1/3 mm mean
    assert joints3d_loss(bent, gt).tolist() == pytest.approx([1 / 3, 1 / 3], rel=1e-9)
    c, s_ = math.cos(1.0), math.sin(1.0)
    R = torch.tensor([[c, -s_, 0], [s_, c, 0], [0, 0, 1]], dtype=torch.float64)
    turned = gt @ R.T  # the same hand turned 57° about z (root-relative: turned about its wrist)
    assert (joints3d_loss(turned, gt) > 5).all()  # SMHR's term counts the turn
    assert joints3d_loss(turned, gt, align="rotation").tolist() == pytest.approx([0, 0], abs=1e-9)
    # the alignment is a rotation only: a scaled hand is still penalised
    assert (joints3d_loss(1.5 * gt, gt, align="rotation") > 5).all()
    with pytest.raises(ValueError, match="joints3d_align"):
        joints3d_loss(gt, gt, align="scale")


def test_norm_prior_hinge_and_left_mirror():
    limits = SMHR_POSE_LIMITS_RIGHT
    assert limits.shape == (15, 3, 2)
    assert limits[9 + 0].tolist() == [[-5, 5], [-10, 10], [-10, 100]]  # ring 1
    assert limits[6].tolist() == [[-20, 5], [-10, 20], [-10, 100]]  # pinky 1 (MANO order)
    assert SMHR_POSE_LIMITS_LEFT[6].tolist() == [[-20, 5], [-20, 10], [-100, 10]]
    assert SMHR_POSE_LIMITS_LEFT[12, 1].tolist() == [-33.75, 22.5]  # thumb 1 azimuth
    pose = torch.zeros(15, 3, dtype=torch.float64)
    beta = torch.zeros(10, dtype=torch.float64)
    assert norm_prior(pose, beta, limits).item() == 0.0
    pose[0, 2] = math.radians(110)  # index 1 pitch 10 degrees past 100
    pose[12, 0] = math.radians(-3)  # thumb 1 roll 3 degrees below 0
    beta[0] = 2.0
    expected = math.radians(13) / 45 + 0.1 * 4 / 10
    assert norm_prior(pose, beta, limits).item() == pytest.approx(expected, rel=1e-12)
    # the left box of the mirrored pose gives the same value
    left = norm_prior(mirror_pose(pose), beta, SMHR_POSE_LIMITS_LEFT)
    assert left.item() == pytest.approx(expected, rel=1e-12)
    assert norm_prior(pose.reshape(1, 45), beta[None], limits).shape == (1,)


def test_photometric_by_hand_and_weights_table():
    r = torch.zeros(1, 2, 2, 3, dtype=torch.float64)
    img = r.clone()
    img[0, 0, 0] = torch.tensor([0.3, 0.4, 0.0])  # distance 0.5
    img[0, 1, 1] = torch.tensor([1.0, 0.0, 0.0])  # outside the mask
    mask = torch.tensor([[[1.0, 1.0], [0.0, 0.0]]], dtype=torch.float64)
    assert photometric_loss(r, img, mask).item() == pytest.approx(0.5 / (2 + 1e-4), rel=1e-5)
    assert SMHR_WEIGHTS["single"]["center"] == 100 and SMHR_WEIGHTS["multi"]["handedness"] == 100
    assert SMHR_WEIGHTS["single"]["joints3d"] == 0 and SMHR_WEIGHTS["multi"]["joints3d"] == 10


def test_terms_have_their_true_gradient(assert_descends):
    g = torch.Generator().manual_seed(0)
    uv = (torch.rand(3, 21, 2, generator=g, dtype=torch.float64) * 50).requires_grad_()
    gt = torch.rand(3, 21, 2, generator=g, dtype=torch.float64) * 50
    assert_descends(lambda: reprojection_loss(uv, gt).sum() + bone_direction_loss(uv, gt).sum(),
                    [uv])
    pose = (torch.randn(2, 45, generator=g, dtype=torch.float64) * 2).requires_grad_()
    beta = torch.randn(2, 10, generator=g, dtype=torch.float64).requires_grad_()
    assert_descends(lambda: norm_prior(pose, beta, SMHR_POSE_LIMITS_RIGHT).sum(), [pose, beta])
    logits = torch.randn(2, 1, 4, 4, generator=g, dtype=torch.float64).requires_grad_()
    hm = torch.zeros(2, 1, 4, 4, dtype=torch.float64)
    hm[:, 0, 1, 2] = 1.0
    hm[:, 0, 1, 3] = 0.5
    assert_descends(lambda: focal_loss(clamped_sigmoid(logits), hm).sum(), [logits])
