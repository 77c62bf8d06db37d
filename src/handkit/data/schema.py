"""The one Sample every loader returns, the synthetic world writes, and every task consumes.

**Conventions** (docs/data.md restates them):
- image: RGB uint8, (H, W, 3), as stored on disk (no normalization).
- 3D: meters, right-handed camera frame of `image` (x right, y down, z forward).
- 2D: pixels of `image`, handkit pixel convention (centre of column i at i + 0.5).
- Keypoints: handkit order (`hand.skeleton`), 21 per hand; a leading hand axis N holds every
  annotated hand of the image (N = 1 for single-hand datasets, 2 for InterHand2.6M, 2-4 for
  the multi-hand world).
- Left hands are NOT mirrored by loaders: `is_right` says which hand it is; mirroring is a
  choice of the task (SiMHand/PeCLR flip left crops, specs/pretrain.md §2.2 step 4).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from handkit.utils.check import check_finite, check_shape

__all__ = ["Sample", "collate", "SampleError"]


class SampleError(ValueError):
    """A sample that cannot be used; the message names the source file and field."""


@dataclass
class Sample:
    """One image and the labels of its hands.

    Attributes:
        image: (H, W, 3) uint8, RGB.
        keypoints_2d: (N, 21, 2) float32, pixels of `image`, handkit order.
        joint_valid: (N, 21) bool, the label of this joint exists and may be trusted.
        is_right: (N,) bool, handedness of each hand.
        K: (3, 3) float32 pixel intrinsics of `image`, or None when unknown (in-the-wild crops).
        keypoints_3d: (N, 21, 3) float32, meters, camera frame; None for 2D-only data.
        joint_visible: (N, 21) bool, not occluded (from depth where known); None if unknown.
        scale: (N,) float32, meters, the dataset's reference bone length (FreiHAND
            `*_scale.json`: middle MCP–PIP); None if unknown.
        mask: (H, W) bool hand mask; None if unknown.
        part_seg: (H, W) uint8, 0 background, 1..16 hand parts (palm + 15 finger segments,
            `hand.openhand.PART_NAMES`), + 16 for a second hand; None if unknown.
        vertices: (N, V, 3) float32, meters, camera frame; V is the mesh's vertex count (778 for
            MANO, 1214 for OpenHand); None if unknown.
        dataset: dataset/format name, e.g. "freihand".
        sample_id: unique within the dataset (e.g. the image's path relative to the root).
        video_id: the video or capture sequence (mining excludes same-video pairs); "" if none.
        frame_id: frame index within the video; -1 if none.
        extras: format-specific fields, documented by the loader (e.g. Hand100M's `hand_id`,
            `positive_ids`, `distances`).
    """

    image: np.ndarray
    keypoints_2d: np.ndarray
    joint_valid: np.ndarray
    is_right: np.ndarray
    K: np.ndarray | None = None
    keypoints_3d: np.ndarray | None = None
    joint_visible: np.ndarray | None = None
    scale: np.ndarray | None = None
    mask: np.ndarray | None = None
    part_seg: np.ndarray | None = None
    vertices: np.ndarray | None = None
    dataset: str = ""
    sample_id: str = ""
    video_id: str = ""
    frame_id: int = -1
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def num_hands(self) -> int:
        return int(self.keypoints_2d.shape[0])

    def validate(self, source: str = "") -> "Sample":
        """Check every field's shape, dtype-kind and finiteness; return self.

        Args:
            source: the file the sample was read from, named in any error.

        Raises:
            SampleError: "<source>: <field>: expected (N, 21, 3), got (21, 3)."
        """
        where = source or self.sample_id or self.dataset or "sample"
        try:
            check_shape(self.image, "H W 3", name="image")
            if self.image.dtype != np.uint8:
                raise ValueError(f"image: expected uint8, got {self.image.dtype}.")
            h, w = self.image.shape[:2]
            n = check_shape(self.keypoints_2d, "N 21 2", name="keypoints_2d")["N"]
            check_shape(self.joint_valid, f"{n} 21", name="joint_valid")
            check_shape(self.is_right, f"{n}", name="is_right")
            shapes = {"K": "3 3", "keypoints_3d": f"{n} 21 3", "joint_visible": f"{n} 21",
                      "scale": f"{n}", "mask": f"{h} {w}", "part_seg": f"{h} {w}",
                      "vertices": f"{n} V 3"}
            for name, pattern in shapes.items():
                value = getattr(self, name)
                if value is not None:
                    check_shape(value, pattern, name=name)
            _check_geometry(self)  # first: a bad K or depth shows up as NaN 2D in loaders
            # Invalid joints may hold any placeholder, but no label may be NaN where it is valid.
            for name in ("keypoints_2d", "keypoints_3d"):
                value = getattr(self, name)
                if value is not None:
                    check_finite(value[self.joint_valid.astype(bool)], name=name)
            for name in ("K", "scale", "vertices"):
                if getattr(self, name) is not None:
                    check_finite(getattr(self, name), name=name)
        except ValueError as err:
            raise SampleError(f"{where}: {err}") from None
        return self


def _check_geometry(sample: Sample) -> None:
    """What the shapes cannot tell: K projects (fx, fy > 0, last row 0 0 1), valid 3D joints
    lie in front of the camera, scales are positive. A NaN loss from step 0 otherwise."""
    K = sample.K
    if K is not None and not (K[0, 0] > 0 and K[1, 1] > 0
                              and np.allclose(K[2], (0, 0, 1), atol=1e-6)):
        raise ValueError(f"K: not a camera matrix (fx = {K[0, 0]:g}, fy = {K[1, 1]:g}, last row "
                         f"{np.round(K[2], 6).tolist()}; needs fx, fy > 0 and 0 0 1).")
    if sample.keypoints_3d is not None:
        z = np.where(sample.joint_valid.astype(bool), sample.keypoints_3d[..., 2], 1.0)
        if (z <= 0).any():
            h, j = np.argwhere(z <= 0)[0]
            raise ValueError(f"keypoints_3d: depth {z[h, j]:g} m at hand {h}, joint {j}; valid "
                             "joints must be in front of the camera (z > 0, camera frame).")
    if sample.scale is not None and (sample.scale <= 0).any():
        raise ValueError(f"scale: must be > 0 m, got {sample.scale.tolist()}.")


_OPTIONAL = ("K", "keypoints_3d", "joint_visible", "scale", "mask", "part_seg", "vertices")


def collate(samples: list[Sample]) -> dict[str, Any]:
    """Stack samples of equal image size and hand count into a batch of tensors.

    Returns:
        dict with `image` (B, 3, H, W) uint8, `keypoints_2d` (B, N, 21, 2), `joint_valid`
        (B, N, 21) bool, `is_right` (B, N) bool, every optional field that all samples have
        (leading B), and the lists `dataset`, `sample_id`, `video_id`, `frame_id`, `extras`.

    Raises:
        ValueError: empty list, differing image sizes or hand counts, or an optional field
            present in some samples only.
    """
    if not samples:
        raise ValueError("samples: empty list; a batch needs at least one sample.")
    first = samples[0]
    for s in samples[1:]:
        if s.image.shape != first.image.shape or s.num_hands != first.num_hands:
            raise ValueError(
                f"samples: cannot stack {s.sample_id!r} (image {s.image.shape}, {s.num_hands} "
                f"hands) with {first.sample_id!r} (image {first.image.shape}, "
                f"{first.num_hands} hands); resize/crop to one size first.")
    batch: dict[str, Any] = {
        "image": torch.from_numpy(np.stack([s.image for s in samples])).permute(0, 3, 1, 2),
        "keypoints_2d": torch.from_numpy(np.stack([s.keypoints_2d for s in samples])).float(),
        "joint_valid": torch.from_numpy(np.stack([s.joint_valid for s in samples])).bool(),
        "is_right": torch.from_numpy(np.stack([s.is_right for s in samples])).bool(),
    }
    for name in _OPTIONAL:
        present = [getattr(s, name) is not None for s in samples]
        if all(present):
            batch[name] = torch.from_numpy(np.stack([getattr(s, name) for s in samples]))
        elif any(present):
            raise ValueError(f"samples: field {name!r} is present in some samples only.")
    for name in ("dataset", "sample_id", "video_id", "frame_id", "extras"):
        batch[name] = [getattr(s, name) for s in samples]
    return batch

