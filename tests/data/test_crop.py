"""Square hand crops: the official box→T rule by hand, and image/keypoint consistency."""

from __future__ import annotations

import numpy as np
import pytest

from handkit.data.crop import box_crop_matrix, centre_box, keypoint_box, warp_crop


def test_box_crop_matrix_by_hand():
    # box 40 × 20 centred at (30, 30); fill 0.7 of 100 px → s = 70 / 40 = 1.75
    T = box_crop_matrix([10, 20, 50, 40], 100, 0.7)
    assert np.allclose(T, [[1.75, 0, 50 - 1.75 * 30], [0, 1.75, 50 - 1.75 * 30], [0, 0, 1]])
    # official first pass on a 224 image: side 0.33·224, s = 0.7·224 / (0.33·224)
    T0 = box_crop_matrix(centre_box(224, 224), 224)
    assert T0[0, 0] == pytest.approx(0.7 / 0.33) and (T0 @ [112, 112, 1])[:2] == pytest.approx(
        [112, 112])


def test_keypoint_box_uses_valid_joints_only():
    uv = np.array([[1.0, 2.0], [5.0, 9.0], [100.0, 100.0]])
    assert np.allclose(keypoint_box(uv, [True, True, False]), [1, 2, 5, 9])
    with pytest.raises(ValueError, match="uv"):
        keypoint_box(uv, [False, False, False])


@pytest.mark.parametrize("shrink", [False, True])
def test_warp_crop_moves_a_dot_where_T_moves_its_centre(shrink):
    img = np.zeros((400, 400, 3), np.uint8)
    d = 24 if shrink else 8  # a d×d dot centred at (120 + d/2, 200 + d/2) in handkit pixels
    img[200:200 + d, 120:120 + d] = 255
    box = [60, 150, 260, 350] if shrink else [110, 190, 140, 220]
    T = box_crop_matrix(box, 64, 0.7)
    crop = warp_crop(img, T, 64)[..., 0].astype(float)
    ys, xs = np.mgrid[0:64, 0:64] + 0.5
    centre = np.array([(crop * xs).sum(), (crop * ys).sum()]) / crop.sum()
    # a half-pixel convention slip would move it by 0.5 · T[0, 0] >= 0.11 crop px
    assert np.allclose(centre, (T @ [120 + d / 2, 200 + d / 2, 1])[:2], atol=0.03)


def test_nearest_warp_moves_labels_without_inventing_any():
    labels = np.zeros((8, 8), np.uint8)
    labels[2, 3], labels[5, 6] = 7, 31
    T = np.array([[1.0, 0, 1], [0, 1.0, -1], [0, 0, 1]])  # shift by (+1, -1) px
    out = warp_crop(labels, T, 8, interpolation="nearest")
    assert out[1, 4] == 7 and out[4, 7] == 31 and set(np.unique(out)) == {0, 7, 31}
    half = warp_crop(labels, np.diag([0.5, 0.5, 1.0]), 4, interpolation="nearest")
    assert set(np.unique(half)) <= {0, 7, 31}  # shrinking never averages labels
    with pytest.raises(ValueError, match="interpolation"):
        warp_crop(labels, T, 8, interpolation="cubic")
