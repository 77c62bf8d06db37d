"""Multi-hand composition of single-hand samples (SMHR's artificial images, §3.7)."""

import numpy as np
import pytest

from handkit.data.compose import ComposedMultiHand, _brightness, box_overlap
from handkit.data.schema import Sample, SampleError

RED = np.array([250, 10, 10], np.uint8)


def _source(seed: int, size: int = 128, left: bool = False) -> Sample:
    """A red hand-shaped blob (a disc) on black; keypoints on the disc, thumb tip to the right."""
    rng = np.random.default_rng(seed)
    c = rng.uniform(50, 78, 2)
    yy, xx = np.mgrid[:size, :size] + 0.5
    mask = (xx - c[0]) ** 2 + (yy - c[1]) ** 2 < 30 ** 2
    image = np.zeros((size, size, 3), np.uint8)
    image[mask] = RED
    uv = c + rng.uniform(-20, 20, (21, 2))
    uv[4] = c + [22.0, 0.0]  # thumb tip right of the centre
    xyz = np.concatenate([(uv - 64) / 500, np.full((21, 1), 0.5)], 1)
    return Sample(image=image, keypoints_2d=uv[None].astype(np.float32),
                  joint_valid=np.ones((1, 21), bool), is_right=np.array([not left]),
                  keypoints_3d=xyz[None].astype(np.float32), mask=mask,
                  sample_id=f"src{seed}").validate()


def _black(rng, size):
    return np.zeros((size, size, 3), np.uint8)


def test_box_overlap_and_brightness_by_hand():
    a, b = np.array([0, 0, 10, 10.0]), np.array([5, 5, 25, 25.0])
    assert box_overlap(a, b) == pytest.approx(25 / 100)  # over the smaller box
    assert box_overlap(a, np.array([10, 0, 20, 10.0])) == 0.0
    px = np.array([[[100, 40, 0]]], np.uint8)
    assert _brightness(px, 2.0).tolist() == [[[200, 80, 0]]]
    assert _brightness(px, 3.0).tolist() == [[[255, 102, 0]]]  # V clipped: ×2.55, hue kept


def test_composed_images_paste_masked_hands_with_their_keypoints():
    data = [_source(i) for i in range(6)]
    comp = ComposedMultiHand(data, size=192, seed=3, flip_prob=0.5, brightness_prob=0.0,
                             background=_black)
    seen = set()
    for index in range(6):
        s = comp[index]
        n = s.num_hands
        assert 1 <= n <= 5 and s.image.shape == (192, 192, 3) and s.K is None
        assert s.extras["sources"][0] == index
        assert s.extras["xyz_root_relative"].shape == (n, 21, 3)
        assert np.allclose(s.extras["xyz_root_relative"][:, 0], 0)
        # outside the mask the background (black) is untouched; inside it the pasted hand is red
        # (mask and image share the warp: at the rim, where mask ≥ 1/2, the image is ≥ half red)
        assert (s.image[~s.mask] == 0).all() and s.mask.any()
        assert (s.image[s.mask][:, 0] >= 100).all() and (s.image[s.mask][:, 0] == 250).mean() > 0.8
        boxes = [np.r_[u.min(0), u.max(0)] for u in s.keypoints_2d]
        assert all(box_overlap(a, b) == 0 for i, a in enumerate(boxes) for b in boxes[i + 1:])
        seen |= set(s.is_right.tolist())
        # a keypoint well inside its disc lands on a red pixel
        for u in s.keypoints_2d:
            x, y = np.floor(u[0]).astype(int)
            if 0 <= x < 192 and 0 <= y < 192:
                assert s.mask[y, x]
    assert seen == {True, False}
    again = comp[2]
    assert np.array_equal(again.image, comp[2].image)  # a pure function of (seed, index)


def test_flipped_hands_are_left_and_mirrored():
    comp = ComposedMultiHand([_source(0)], size=192, flip_prob=1.0, max_hands=1,
                             brightness_prob=0.0, background=_black)
    s = comp[0]
    assert s.is_right.tolist() == [False]
    uv = s.keypoints_2d[0]
    src = _source(0)
    assert src.keypoints_2d[0, 4, 0] > src.keypoints_2d[0, 0, 0]  # thumb tip right of the wrist
    assert uv[4, 0] < uv[0, 0]  # ... and left of it once mirrored
    rel_src = src.keypoints_3d[0] - src.keypoints_3d[0, :1]
    assert np.allclose(s.extras["xyz_root_relative"][0], rel_src * [-1, 1, 1], atol=1e-6)
    assert ComposedMultiHand([_source(0)], size=192, flip_prob=0.0, max_hands=1,
                             background=_black)[0].is_right.tolist() == [True]


def test_overlapping_placements_are_redrawn_or_refused(monkeypatch):
    data = [_source(i) for i in range(3)]
    comp = ComposedMultiHand(data, size=192, max_hands=2, background=_black)
    real = comp._place
    calls = []

    def overlapping_first(rng, hands):
        placed = real(rng, hands)
        calls.append(1)
        if len(calls) == 1:  # the first draw puts the second hand on the first one
            h, side, x0, y0, box = placed[0]
            return [placed[0], (hands[1], side, x0, y0, box)]
        return placed

    monkeypatch.setattr(comp, "_place", overlapping_first)
    s = comp[0]
    assert len(calls) >= 2 and s.num_hands >= 1
    strict = ComposedMultiHand(data, size=192, max_hands=2, max_overlap=-1.0, max_tries=3,
                               background=_black)
    with pytest.raises(SampleError, match=r"composed\[0\]: no placement .* 3 tries"):
        strict[0]


def test_bad_arguments():
    with pytest.raises(ValueError, match="empty"):
        ComposedMultiHand([])
    with pytest.raises(ValueError, match="too small"):
        ComposedMultiHand([_source(0)], size=32)
    with pytest.raises(ValueError, match="background"):
        ComposedMultiHand([_source(0)], size=192,
                          background=lambda rng, size: np.zeros((10, 10, 3), np.uint8))[0]
