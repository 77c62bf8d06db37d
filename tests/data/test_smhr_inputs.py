"""SMHR's inputs: the single-hand crop, the whole-image map, colour noise, items per epoch."""

import numpy as np
import pytest
import torch

from handkit.data.schema import Sample
from handkit.data.smhr_inputs import (SMHRItems, color_noise, crop_matrix, whole_matrix,
                                     zoom_matrix)
from handkit.geometry.camera import apply_affine_2d


def _sample(n=2, size=160, seed=0):
    rng = np.random.default_rng(seed)
    centres = [(40, 50), (110, 100), (60, 120)][:n]
    uv = np.stack([c + rng.uniform(-15, 15, (21, 2)) for c in centres]).astype(np.float32)
    xyz = np.concatenate([uv / 400, np.full((n, 21, 1), 0.6, np.float32)], -1)
    image = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
    return Sample(image=image, keypoints_2d=uv, joint_valid=np.ones((n, 21), bool),
                  is_right=np.array([True, False, True][:n]), keypoints_3d=xyz,
                  sample_id=f"s{seed}").validate()


def test_test_crop_centres_the_box_at_half_the_side():
    uv = np.array([[10.0, 20.0], [50.0, 40.0]] + [[30.0, 30.0]] * 19)
    T, angle = crop_matrix(uv, np.ones(21, bool), 224)
    assert angle == 0.0
    # box (10, 20)-(50, 40): centre (30, 30), longer side 40 -> crop side 80, scale 224/80
    assert apply_affine_2d(np.array([[30.0, 30.0]]), T).tolist() == [[112.0, 112.0]]
    assert apply_affine_2d(np.array([[50.0, 30.0]]), T)[0, 0] == pytest.approx(112 + 56)


def test_training_crop_draws_scale_shift_and_rotation_in_smhr_ranges():
    uv = np.array([[10.0, 20.0], [50.0, 40.0]] + [[30.0, 30.0]] * 19)
    for seed in range(20):
        T, angle = crop_matrix(uv, np.ones(21, bool), 224, np.random.default_rng(seed))
        k = np.sqrt(abs(np.linalg.det(T[:2, :2])))
        assert 224 * 0.3 / 40 < k <= 224 * 0.6 / 40 + 1e-9  # the box spans 30-60 % of the crop
        assert -40 <= angle < 40 and float(angle).is_integer()
        # rotation and scale only: lengths scale by k
        a, b = apply_affine_2d(uv[:2], T)
        assert np.linalg.norm(a - b) == pytest.approx(k * np.linalg.norm(uv[0] - uv[1]))


def test_whole_matrix_and_colour_noise():
    T = whole_matrix(100, 200, 64)  # k = 0.32, centred vertically
    assert apply_affine_2d(np.array([[100.0, 50.0]]), T).tolist() == [[32.0, 32.0]]
    assert apply_affine_2d(np.array([[0.0, 0.0]]), T).tolist() == [[0.0, 16.0]]
    img = np.full((2, 2, 3), 100, np.uint8)
    assert color_noise(img, np.random.default_rng(0), p=0.0) is img
    out = color_noise(img, np.random.default_rng(0), p=1.0)
    rng = np.random.default_rng(0)
    rng.uniform()
    g, o = rng.uniform(0.7, 1.3, 3), rng.uniform(-12.75, 12.75, 3)
    assert out[0, 0].tolist() == np.clip(100 * g + o, 0, 255).astype(np.uint8).tolist()


def test_items_carry_targets_per_epoch():
    data = [_sample(2, seed=0), _sample(3, seed=1)]
    items = SMHRItems(data, size=64, max_objs=4, mode="whole", center="mean", augment=True)
    a, again = items[(0, 1)], items[(0, 1)]
    assert torch.equal(a["image"], again["image"])  # a pure function of (seed, epoch, index)
    # colour noise (p = 0.5) is redrawn every epoch
    assert any(not torch.equal(a["image"], items[(e, 1)]["image"]) for e in range(1, 6))
    assert a["image"].shape == (3, 64, 64) and a["hm"].shape == (1, 16, 16)
    assert a["slot"].tolist() == [True, True, True, False] and bool(a["has_xyz"])
    T = whole_matrix(160, 160, 64)
    assert torch.allclose(a["uv"][1], torch.from_numpy(
        apply_affine_2d(data[1].keypoints_2d[1].astype(np.float64), T)).float(), atol=1e-5)
    w = 16
    for k in range(3):
        y, x = divmod(int(a["ind"][k]), w)
        assert a["hm"][0, y, x] == 1.0
    assert torch.allclose(a["xyz"][1], torch.from_numpy(
        data[1].keypoints_3d[1] - data[1].keypoints_3d[1, :1]))
    crop = SMHRItems(data, size=64, max_objs=1, mode="crop", center="box", augment=False)[0]
    assert crop["slot"].tolist() == [True] and not bool(crop["has_xyz"])
    assert crop["is_right"].tolist() == [True]
    # the test crop: the hand's box centre at the crop centre
    box_c = (crop["uv"][0].min(0).values + crop["uv"][0].max(0).values) / 2
    assert box_c.tolist() == pytest.approx([32.0, 32.0], abs=1e-4)
    bad = SMHRItems(data, size=64, max_objs=1, mode="crop", min_valid=22)[0]
    assert "no hand with >= 22" in bad["bad"]


def test_zoom_magnifies_about_a_point_and_unlabels_hands_whose_centre_leaves():
    rng = np.random.default_rng(3)
    Z = zoom_matrix(rng, 64, (2.0, 2.0))
    p = np.random.default_rng(3)
    p.uniform(2.0, 2.0)
    fixed = p.uniform(0, 64, 2)  # the drawn fixed point stays where it is
    assert apply_affine_2d(fixed[None], Z)[0] == pytest.approx(fixed)
    assert apply_affine_2d(fixed[None] + [1.0, 0.0], Z)[0] == pytest.approx(fixed + [2.0, 0.0])
    data = [_sample(3, seed=1)]
    items = SMHRItems(data, size=64, max_objs=4, mode="whole", center="box", zoom=(3.0, 3.0))
    seen_drop = False
    for epoch in range(12):
        item = items[(epoch, 0)]
        T = zoom_matrix(np.random.default_rng([0, epoch, 0]), 64, (3.0, 3.0)) @ \
            whole_matrix(160, 160, 64)
        uv = apply_affine_2d(data[0].keypoints_2d.astype(np.float64), T)
        centres = (uv.min(1) + uv.max(1)) / 2
        inside = ((centres >= 0) & (centres < 64)).all(1)
        assert int(item["slot"].sum()) == int(inside.sum())
        labelled = item["uv"][item["slot"]].numpy()
        assert np.allclose(labelled, uv[inside], atol=1e-4)
        seen_drop |= not inside.all()
    assert seen_drop  # at 3x, some hand leaves the view in 12 draws
    with pytest.raises(ValueError, match="zoom"):
        SMHRItems(data, size=64, max_objs=4, zoom=(0.5, 2.0))
