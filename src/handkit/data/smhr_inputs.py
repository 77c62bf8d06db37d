"""SMHR's network inputs and targets from `Sample`s (specs/mesh.md §3.7, §3.2).

Two ways to make the S×S input:

- ``"crop"`` (SMHR's single-hand ``simplified`` task, 224 px): a square around the first hand
  with ≥ ``min_valid`` valid joints. Training: centre = its keypoint box centre + integer noise
  in [−5, 5) px, side s drawn from [m/0.6, m/0.3) in steps of 0.01·S (m = the box's longer
  side, so the box spans 30-60 % of the crop), rotation an integer in [−40, 40) degrees. Test:
  box centre, s = m/0.5, no rotation. Other hands in the image stay unlabelled pixels.
- ``"whole"`` (multi-hand images: composed or the synthetic world, 384 px): the whole image
  scaled so its longer side is S and centred (zero padding); every hand is labelled.

``zoom`` (handkit's, off by default; the hand detector uses it): in ``"whole"`` training mode the
letterboxed input is magnified by z ~ U[zoom] about a uniform point of the input, so small
synthetic hands are also seen at the sizes of people's photos; a hand whose keypoint-box centre
leaves the input is unlabelled (its joints invalid), since its centre cell would be clipped
onto the border.

Training colour noise, SMHR's ``add_noise``: with p = 0.5, per channel x → g·x + o, g ~ U[0.7,
1.3], o ~ U[−12.75, 12.75], clipped to [0, 255].

Handedness is kept as labelled (no mirroring to right hands: SMHR predicts both sides).
Targets: `data.centers.center_targets` on the mapped keypoints. Root-relative 3D per slot
(``xyz``, meters, with ``has_xyz``) comes from the sample's camera-frame 3D or a composed
sample's ``extras["xyz_root_relative"]``, in ``"whole"`` mode only (a rotated crop would need
its 3D turned too; SMHR's single-hand path weights 3D by 0).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from handkit.data.centers import center_targets
from handkit.data.crop import keypoint_box, warp_crop
from handkit.data.formats._base import LOAD_ERRORS
from handkit.data.schema import Sample, SampleError
from handkit.geometry.camera import apply_affine_2d
from handkit.utils.check import check_choice

__all__ = ["INPUT_MODES", "crop_matrix", "whole_matrix", "zoom_matrix", "color_noise",
           "SMHRItems"]

INPUT_MODES = {"crop": "a square around one hand (SMHR single-hand, 224 px)",
               "whole": "the whole image, longer side to S (multi-hand, 384 px)"}


def crop_matrix(uv: np.ndarray, valid: np.ndarray, size: int,
                rng: np.random.Generator | None = None) -> tuple[np.ndarray, float]:
    """SMHR's single-hand crop (module doc): source px → crop px, and the rotation.

    Args:
        uv: (21, 2) px. valid: (21,) bool. size: S. rng: None = the test crop.

    Returns:
        T (3, 3) float64, angle in degrees (counter-clockwise in the image).
    """
    box = keypoint_box(uv, valid)
    centre = (box[:2] + box[2:]) / 2
    longest = max(box[2] - box[0], box[3] - box[1], 1.0)
    angle = 0.0
    if rng is None:
        side = longest / 0.5
    else:
        centre = centre + rng.integers(-5, 5, 2)
        sides = np.arange(longest / 0.6, longest / 0.3, 0.01 * size)
        side = float(sides[rng.integers(len(sides))]) if len(sides) else longest / 0.45
        angle = float(rng.integers(-40, 40))
    k = size / side
    T = np.array([[k, 0, size / 2 - k * centre[0]], [0, k, size / 2 - k * centre[1]],
                  [0, 0, 1.0]])
    if angle:
        c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
        h = size / 2
        # rotate about the crop centre; y points down, so this turns the image counter-clockwise
        R = np.array([[c, s, h - c * h - s * h], [-s, c, h + s * h - c * h], [0, 0, 1.0]])
        T = R @ T
    return T, angle


def whole_matrix(height: int, width: int, size: int) -> np.ndarray:
    """The whole image scaled so its longer side is `size`, centred: (3, 3) source → input px."""
    k = size / max(height, width)
    return np.array([[k, 0, (size - k * width) / 2], [0, k, (size - k * height) / 2],
                     [0, 0, 1.0]])


def zoom_matrix(rng: np.random.Generator, size: int, zoom: tuple[float, float]) -> np.ndarray:
    """(3, 3) input → input magnification by z ~ U[zoom] about a uniform point p of the S×S
    input: x → z·x + (1 − z)·p, which keeps the view inside the input for z ≥ 1."""
    z = float(rng.uniform(*zoom))
    p = rng.uniform(0, size, 2)
    return np.array([[z, 0, (1 - z) * p[0]], [0, z, (1 - z) * p[1]], [0, 0, 1.0]])


def color_noise(image: np.ndarray, rng: np.random.Generator, p: float = 0.5) -> np.ndarray:
    """SMHR's ``add_noise`` (module doc). (H, W, 3) uint8 → (H, W, 3) uint8."""
    if rng.uniform() >= p:
        return image
    gain = rng.uniform(0.7, 1.3, 3)
    offset = rng.uniform(-12.75, 12.75, 3)
    return np.clip(image.astype(np.float32) * gain + offset, 0, 255).astype(np.uint8)


class _Plain:
    """``get(index, epoch)`` of a dataset whose items do not depend on the epoch."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def get(self, index: int, epoch: int) -> Sample:
        return self.dataset[index]


class SMHRItems(Dataset):
    """Key (epoch, index) → SMHR's input and targets, or {"bad": reason}.

    Args:
        source: a dataset of `Sample`s, or any object with ``get(index, epoch) -> Sample`` and
            ``len`` (`data.compose.ComposedMultiHand`, redrawn every epoch).
        size: S, the network's input side. max_objs: target slots (1 at 224, 4 at 384).
        mode: `INPUT_MODES`. center: `data.centers.CENTER_RULES` ("box" single, "mean" multi).
        augment: training randomness (crop jitter, rotation, colour) or the test input.
        seed: item draws are a pure function of (seed, epoch, index).
        min_valid: valid joints the cropped hand needs ("crop").
        stride: of the heat-maps (4).
        zoom: (lo, hi) magnification range of ``"whole"`` training inputs (module doc);
            (1, 1) = none.

    Items: ``image`` (3, S, S) uint8 RGB; from `center_targets`: ``hm`` (1, h, w), ``handmap``
    (2, h, w), ``ind`` (M,), ``slot`` (M,), ``uv`` (M, 21, 2), ``valid`` (M, 21), ``is_right``
    (M,); ``xyz`` (M, 21, 3) root-relative meters and ``has_xyz`` () bool; ``T`` (3, 3) the
    source → input map (to map predictions back); ``K`` (3, 3) = T·K of the input (zeros
    without K) and ``has_K``; ``mask`` (S, S) float in [0, 1], the warped hand mask (zeros
    without one) and ``has_mask``.
    """

    def __init__(self, source: Any, *, size: int, max_objs: int,
                 mode: Literal["crop", "whole"] = "whole",
                 center: Literal["box", "mean"] = "mean", augment: bool = True, seed: int = 0,
                 min_valid: int = 10, stride: int = 4,
                 zoom: tuple[float, float] = (1.0, 1.0)) -> None:
        check_choice(mode, INPUT_MODES, name="mode")
        if not 1.0 <= zoom[0] <= zoom[1]:
            raise ValueError(f"zoom: expected 1 <= lo <= hi, got {tuple(zoom)}.")
        self.zoom = (float(zoom[0]), float(zoom[1]))
        self.source = source if hasattr(source, "get") and callable(source.get) else _Plain(source)
        self.size, self.max_objs, self.mode, self.center = size, max_objs, mode, center
        self.augment, self.seed, self.min_valid, self.stride = augment, seed, min_valid, stride

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        try:
            return self._item(int(epoch), int(index))
        except LOAD_ERRORS as err:
            return {"bad": f"{type(err).__name__}: {err}"}

    def _item(self, epoch: int, index: int) -> dict:
        rng = np.random.default_rng([self.seed, epoch, index])
        sample: Sample = self.source.get(index, epoch)
        valid = sample.joint_valid.astype(bool)
        uv_src, is_right = sample.keypoints_2d.astype(np.float64), sample.is_right.astype(bool)
        if self.mode == "crop":
            good = np.flatnonzero(valid.sum(1) >= self.min_valid)
            if len(good) == 0:
                raise SampleError(f"{sample.sample_id}: no hand with >= {self.min_valid} valid "
                                  "joints.")
            h = int(good[0])
            T, _ = crop_matrix(uv_src[h], valid[h], self.size, rng if self.augment else None)
            keep = [h]
        else:
            T = whole_matrix(*sample.image.shape[:2], self.size)
            keep = list(range(sample.num_hands))
            if self.augment and self.zoom != (1.0, 1.0):
                T = zoom_matrix(rng, self.size, self.zoom) @ T
                valid = valid & _centre_inside(apply_affine_2d(uv_src, T), valid,
                                               self.size)[:, None]
        image = warp_crop(sample.image, T, self.size)
        if self.augment:
            image = color_noise(image, rng)
        uv = apply_affine_2d(uv_src[keep], T)
        t = center_targets(uv, valid[keep], is_right[keep], (self.size, self.size),
                           stride=self.stride, max_objs=self.max_objs, center=self.center)
        xyz = np.zeros((self.max_objs, 21, 3), np.float32)
        rel = self._root_relative(sample)
        has_xyz = self.mode == "whole" and rel is not None
        if has_xyz:
            for k, hand in enumerate(t["hand"]):
                if hand >= 0:
                    xyz[k] = rel[keep[hand]]
        chw = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).contiguous()
        K = np.zeros((3, 3)) if sample.K is None else T @ sample.K
        mask = np.zeros((self.size, self.size), np.float32)
        if sample.mask is not None:  # the skin mask of the photometric term
            mask = warp_crop(sample.mask.astype(np.uint8) * 255, T, self.size) / np.float32(255)
        item = {"image": chw, "xyz": torch.from_numpy(xyz), "has_xyz": torch.tensor(has_xyz),
                "T": torch.from_numpy(T).float(), "K": torch.from_numpy(K).float(),
                "has_K": torch.tensor(sample.K is not None),
                "mask": torch.from_numpy(mask.astype(np.float32)),
                "has_mask": torch.tensor(sample.mask is not None)}
        for name in ("hm", "handmap", "ind", "slot", "uv", "valid", "is_right"):
            item[name] = torch.from_numpy(t[name])
        return item

    @staticmethod
    def _root_relative(sample: Sample) -> np.ndarray | None:
        if "xyz_root_relative" in sample.extras:
            return np.asarray(sample.extras["xyz_root_relative"], np.float32)
        if sample.keypoints_3d is None:
            return None
        return (sample.keypoints_3d - sample.keypoints_3d[:, :1]).astype(np.float32)


def _centre_inside(uv: np.ndarray, valid: np.ndarray, size: int) -> np.ndarray:
    """(N,) bool: the hand's valid-keypoint box centre lies inside the S×S input."""
    inside = np.zeros(len(uv), bool)
    for i, (pts, ok) in enumerate(zip(uv, valid)):
        if ok.any():
            c = (pts[ok].min(0) + pts[ok].max(0)) / 2
            inside[i] = bool(((c >= 0) & (c < size)).all())
    return inside
