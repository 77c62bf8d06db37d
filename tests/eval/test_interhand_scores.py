"""DIGIT's evaluation conventions on hand-made arrays (specs/digit.md §4.2-4.4)."""

import numpy as np
import pytest

from handkit.eval.interhand import JOINT_NAMES_42, handedness_correct, interhand_scores


def _frames():
    gt = np.zeros((3, 42, 3))
    gt[:, :21, 2], gt[:, 21:, 2] = 0.6, 0.7
    pred = gt.copy()
    valid = np.ones((3, 42), bool)
    valid[0, 21:] = False  # frame 0: right only
    valid[1, :21] = False  # frame 1: left only
    pred[0, 0, 0] += 0.003  # r_thumb4 3 mm off (single)
    pred[1, 21, 1] += 0.005  # l_thumb4 5 mm off (single)
    pred[2, 0, 0] += 0.006  # interacting: 6 mm and 4 mm
    pred[2, 21, 2] += 0.004
    pred[2, 21:] += [0.01, -0.02, 0.03]  # a whole hand shifted: removed by root alignment
    return pred, gt, valid, np.array([False, False, True])


def test_mean_of_per_joint_means_with_zero_wrists():
    pred, gt, valid, inter = _frames()
    s = interhand_scores(pred, gt, valid, inter)
    assert s["mpjpe_sh"] == pytest.approx((3 + 5) / 42)
    assert s["mpjpe_sh_no_wrist"] == pytest.approx((3 + 5) / 40)
    assert s["mpjpe_ih"] == pytest.approx((6 + 4) / 42)
    # all: per-joint means (3, 6) -> 4.5 and (5, 4) -> 4.5, not the instance mean
    assert s["mpjpe_all"] == pytest.approx((4.5 + 4.5) / 42)
    assert s["joints_sh"] == s["joints_ih"] == s["joints_all"] == 42
    assert s["per_joint"]["r_thumb4"] == pytest.approx({"sh": 3.0, "ih": 6.0, "all": 4.5})
    assert s["per_joint"]["l_wrist"] == {"sh": 0.0, "ih": 0.0, "all": 0.0}
    assert (s["frames_sh"], s["frames_ih"]) == (2, 1)
    assert JOINT_NAMES_42[20] == "r_wrist" and JOINT_NAMES_42[41] == "l_wrist"


def test_root_error_moves_the_whole_hand_and_missing_joints_are_counted():
    pred, gt, valid, inter = _frames()
    pred[2, 20, 0] += 0.002  # the right root 2 mm off: every other right joint is off after
    s = interhand_scores(pred, gt, valid, inter)  # alignment (r_thumb4: 6 - 2 = 4 mm)
    assert s["per_joint"]["r_thumb4"]["ih"] == pytest.approx(4.0)
    assert s["per_joint"]["r_index4"]["ih"] == pytest.approx(2.0)
    only_right = interhand_scores(pred[:1], gt[:1], valid[:1], inter[:1])
    assert only_right["joints_sh"] == 21 and np.isnan(only_right["mpjpe_ih"])
    assert only_right["mpjpe_sh"] == pytest.approx(3 / 21)  # averaged over the joints present


def test_mrrpe_and_handedness_rule():
    pred, gt, valid, inter = _frames()
    gt_roots = np.array([[[0, 0, 0.6], [0.1, 0, 0.7]]] * 3)
    pred_roots = gt_roots.copy()
    pred_roots[2, 1] += [0.003, 0.004, 0.0]  # left root 5 mm off relative to the right
    pred_roots[0, 1] += 1.0  # not counted (single-hand frame)
    prob = np.array([[0.6, 0.4], [0.3, 0.9], [0.7, 0.5]])  # interacting needs both > 0.5
    target = np.array([[1, 0], [0, 1], [1, 1]], float)
    s = interhand_scores(pred, gt, valid, inter, hand_prob=prob, hand_target=target,
                         pred_roots=pred_roots, gt_roots=gt_roots, root_valid=inter)
    assert s["mrrpe"] == pytest.approx(5.0) and s["frames_mrrpe"] == 1
    assert s["handedness_acc"] == pytest.approx(2 / 3)
    assert handedness_correct(np.array([[0.6, 0.6], [0.5, 0.2]]),
                              np.array([[1, 0], [1, 0]], float)).tolist() == [False, False]
    masked = interhand_scores(pred, gt, valid, inter, hand_prob=prob, hand_target=target,
                              hand_valid=np.array([True, True, False]))
    assert masked["handedness_acc"] == 1.0 and masked["frames_handedness"] == 2


def test_part_colors_are_distinct_and_the_gallery_draws(tmp_path):
    from handkit.eval.plots import part_colors, two_hand_gallery

    colors = part_colors()
    assert colors.shape == (33, 3) and colors[0].tolist() == [0, 0, 0]
    assert len({tuple(c) for c in colors}) == 33  # every class its own colour
    crop = np.zeros((64, 64, 3), np.uint8)
    uv = np.full((2, 21, 2), 32.0)
    seg = np.zeros((32, 32), np.int64)
    seg[4:8, 4:8], seg[20:24, 20:24] = 9, 25
    out = two_hand_gallery([crop, crop], [uv, uv], [uv, uv], [np.ones((2, 21), bool)] * 2,
                           [seg, seg], [seg, None], tmp_path / "g.png", titles=["a", "b"])
    assert out.stat().st_size > 0
