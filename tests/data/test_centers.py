"""SMHR's centre targets: centre rules, slots, peaks of exactly 1, the handedness channel."""

import numpy as np
import pytest

from handkit.data.centers import center_targets, hand_center
from handkit.losses.centernet import gaussian_radius


def _hand(x0, y0, x1, y1):
    """21 keypoints spanning the box [x0, x1] × [y0, y1] px (corners + the rest at its middle)."""
    uv = np.tile([(x0 + x1) / 2, (y0 + y1) / 2], (21, 1)).astype(np.float64)
    uv[1], uv[2] = (x0, y0), (x1, y1)
    return uv


def test_center_rules():
    uv = _hand(8, 4, 40, 20)
    ok = np.ones(21, bool)
    assert hand_center(uv, ok, (64, 64), "box").tolist() == [24.0, 12.0]
    uv2 = uv.copy()
    uv2[3] = (100.0, 12.0)  # outside a 64-px image: the mean ignores it, the box does not
    assert hand_center(uv2, ok, (64, 64), "mean").tolist() == pytest.approx(
        np.delete(uv2, 3, 0).mean(0).tolist())
    assert hand_center(uv2, ok, (64, 64), "box").tolist() == [54.0, 12.0]
    with pytest.raises(ValueError, match="no valid keypoint"):
        hand_center(uv, np.zeros(21, bool), (64, 64))


def test_targets_peaks_slots_and_handedness():
    # hand 0: box 32 x 16 px at centre (24, 12) -> cell (6, 3), box 8 x 4 cells;
    # hand 1: box centre (52, 50) -> cell (13, 12)
    uv = np.stack([_hand(8, 4, 40, 20), _hand(44, 44, 60, 56)])
    t = center_targets(uv, np.ones((2, 21), bool), np.array([True, False]), (64, 64),
                       max_objs=3)
    assert t["hm"].shape == (1, 16, 16) and t["handmap"].shape == (2, 16, 16)
    assert t["ind"].tolist() == [3 * 16 + 6, 12 * 16 + 13, 0]
    assert t["slot"].tolist() == [True, True, False] and t["hand"].tolist() == [0, 1, -1]
    assert t["hm"][0, 3, 6] == 1.0 and t["hm"][0, 12, 13] == 1.0
    assert np.count_nonzero(t["hm"] == 1.0) == 2
    # right hand's Gaussian in channel 1, left hand's in channel 0
    assert t["handmap"][1, 3, 6] == 1.0 and t["handmap"][0, 3, 6] == 0.0
    assert t["handmap"][0, 12, 13] == 1.0 and t["handmap"][1, 12, 13] == 0.0
    # radius of hand 0 = int(gaussian_radius(4, 8)) = 1: the Gaussian reaches 1 cell only
    assert int(gaussian_radius(4, 8)) == 1
    assert t["hm"][0, 3, 7] == pytest.approx(np.exp(-2)) and t["hm"][0, 3, 8] == 0.0
    assert t["is_right"].tolist() == [True, False, False]
    assert np.array_equal(t["uv"][1], uv[1].astype(np.float32))


def test_hands_beyond_the_slots_keep_their_peak_only_and_bad_sizes_fail():
    uv = np.stack([_hand(4, 4, 12, 12), _hand(40, 40, 48, 48)])
    t = center_targets(uv, np.ones((2, 21), bool), np.array([True, True]), (64, 64), max_objs=1)
    assert t["slot"].tolist() == [True] and np.count_nonzero(t["hm"] == 1.0) == 2
    with pytest.raises(ValueError, match="divisible by the stride"):
        center_targets(uv, np.ones((2, 21), bool), np.array([True, True]), (66, 64))
    # a hand whose centre lies outside the image is clipped to the border cell
    out = center_targets(_hand(70, 10, 90, 20)[None], np.ones((1, 21), bool), np.array([True]),
                         (64, 64))
    assert out["ind"][0] == 3 * 16 + 15
