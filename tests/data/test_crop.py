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


# ---- S2HAND's HO3D crop (specs/mesh.md §2.7) -----------------------------------------------
def test_s2hand_ho3d_crop_hand_derived_without_jitter():
    from handkit.data.crop import s2hand_ho3d_crop

    # box (100, 50)-(140, 110): c = (120, 80); grown by 10 px: x 90..150, y 40..120;
    # largest half-extent 40 (y) -> side 4 * 40 = 160 -> s = 224 / 160 = 1.4
    T = s2hand_ho3d_crop([[100, 50], [140, 110]], 480, 640, 224)
    np.testing.assert_allclose(T, [[1.4, 0, 112 - 1.4 * 120], [0, 1.4, 112 - 1.4 * 80], [0, 0, 1]])
    # the box's left edge lands at (100 - 120) * 1.4 + 112 = 84
    assert (T @ [100, 50, 1])[0] == pytest.approx(84.0)
    # clamped to the image before the margin: x0 = -20 counts as 0 - 10; c = (5, 32.5);
    # x: 5 - (-10) = 15, 40 - 5 = 35; y: 32.5 - (5 - 10) = 37.5 -> side 150
    T = s2hand_ho3d_crop([[-20, 5], [30, 60]], 480, 640, 100)
    assert T[0, 0] == pytest.approx(100 / 150)
    # a tiny box gets the 50 px minimum, a huge one the 640 px maximum
    assert s2hand_ho3d_crop([[300, 200], [302, 201]], 480, 640, 50)[0, 0] == pytest.approx(1.0)
    assert s2hand_ho3d_crop([[0, 0], [639, 479]], 480, 640, 64)[0, 0] == pytest.approx(0.1)
    # NaN rows are ignored; none finite is an error
    Tn = s2hand_ho3d_crop([[100, 50], [np.nan, 1], [140, 110]], 480, 640, 224)
    np.testing.assert_allclose(Tn, s2hand_ho3d_crop([[100, 50], [140, 110]], 480, 640, 224))
    with pytest.raises(ValueError, match="no finite point"):
        s2hand_ho3d_crop([[np.nan, np.nan]], 480, 640, 224)


def test_s2hand_ho3d_crop_jitter_statistics():
    from handkit.data.crop import s2hand_ho3d_crop

    box = [[200, 150], [260, 230]]  # c = (230, 190); half-extents 40 + 10 -> side 200 unjittered
    rng = np.random.default_rng(0)
    Ts = np.stack([s2hand_ho3d_crop(box, 480, 640, 224, rng=rng) for _ in range(4000)])
    s = Ts[:, 0, 0]
    centre = (112 - Ts[:, :2, 2]) / s[:, None]  # the source point mapped to the crop centre
    assert np.abs(centre.mean(0) - [230, 190]).max() < 0.4
    np.testing.assert_allclose(centre.std(0), [5, 5], rtol=0.06)
    # grown box x 190..270, y 140..240: side = 4 max(40 + |dx|, 50 + |dy|) / f, f ~ U(0.8, 0.9]
    side = 224 / s
    assert side.min() >= 200 / 0.9 - 1e-9 and np.median(side) < 250 + 4 * 5
    d = np.abs(centre - [230, 190])
    f = 4 * np.maximum(40 + d[:, 0], 50 + d[:, 1]) / side
    assert f.min() > 0.8 - 1e-9 and f.max() <= 0.9 + 1e-9
    assert abs(f.mean() - 0.85) < 0.003
    # the same generator state gives the same crop
    a = s2hand_ho3d_crop(box, 480, 640, 224, rng=np.random.default_rng([3, 7]))
    b = s2hand_ho3d_crop(box, 480, 640, 224, rng=np.random.default_rng([3, 7]))
    assert np.array_equal(a, b)
