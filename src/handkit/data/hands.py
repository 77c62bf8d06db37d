"""Hands out of samples: mirroring to a right hand, the crop preparation of one hand, and the
collation of batches with any number of hands per image.

Every seed trains on right hands and mirrors left ones (image u → W − u, 3D x → −x, K's
principal point cx → W − cx); `mirror_to_right` is that operation, once. A single-hand method
picks its hand explicitly (`prepare_hand`'s rule); multi-hand methods keep every hand and batch
them with `collate_hands`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import torch
from torch import Tensor

from handkit.data.schema import Sample, SampleError
from handkit.geometry.camera import flip_K, resize_matrix
from handkit.hand.skeleton import mirror_uv, mirror_xyz

__all__ = ["mirror_to_right", "prepare_hand", "resize_with_K", "collate_items", "collate_hands"]


def mirror_to_right(image: np.ndarray, uv: np.ndarray, *, xyz: np.ndarray | None = None,
                    K: np.ndarray | None = None, width: float | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Mirror a left hand's view into a right hand's (and back: it is an involution).

    Args:
        image: (H, W, C) array (or None-like empty array when only geometry is mirrored).
        uv: (..., 2) float, pixels of `image` (or of `width` when given).
        xyz: optional (..., 3) float, meters, camera frame: x → −x.
        K: optional (3, 3) float intrinsics: cx → W − cx (`geometry.camera.flip_K`).
        width: the image width in the units of `uv` (default ``image.shape[1]``; 1.0 for
            normalised coordinates).

    Returns:
        (image[:, ::-1] contiguous, uv mirrored, xyz mirrored or None, K flipped or None).
    """
    w = float(image.shape[1]) if width is None else float(width)
    flipped = np.ascontiguousarray(image[:, ::-1])
    uv = mirror_uv(np.asarray(uv), w)
    xyz = None if xyz is None else mirror_xyz(np.asarray(xyz))
    K = None if K is None else flip_K(torch.from_numpy(np.asarray(K, dtype=np.float64)), w).numpy()
    return flipped, uv, xyz, K


def prepare_hand(sample: Sample, *, min_valid: int = 10) -> dict:
    """The sample's first hand (in the loader's order) with ≥ `min_valid` valid joints, mirrored
    to a right hand if it is left: the hand single-hand methods train and test on.

    Returns:
        dict: image (H, W, 3) uint8, uv (21, 2) px, xyz (21, 3) m or None, K (3, 3) or None,
        valid (21,) bool, is_right (the original handedness), scale (float or None),
        vertices ((V, 3) m, camera frame, mirrored with the hand, or None), hand (its index in
        the sample).

    Raises:
        SampleError: no hand has `min_valid` valid joints.
    """
    counts = sample.joint_valid.sum(axis=1)
    good = np.flatnonzero(counts >= min_valid)
    if len(good) == 0:
        raise SampleError(f"{sample.sample_id}: no hand with >= {min_valid} valid joints.")
    h = int(good[0])
    image, uv = sample.image, sample.keypoints_2d[h].astype(np.float64)
    xyz = None if sample.keypoints_3d is None else sample.keypoints_3d[h].astype(np.float64)
    K = None if sample.K is None else sample.K.astype(np.float64)
    verts = None if sample.vertices is None else sample.vertices[h].astype(np.float64)
    right = bool(sample.is_right[h])
    if not right:
        image, uv, xyz, K = mirror_to_right(image, uv, xyz=xyz, K=K)
        verts = None if verts is None else mirror_xyz(verts)
    scale = None if sample.scale is None else float(sample.scale[h])
    return {"image": np.ascontiguousarray(image), "uv": uv, "xyz": xyz, "K": K,
            "valid": sample.joint_valid[h].astype(bool), "is_right": right, "scale": scale,
            "vertices": verts, "hand": h}


def resize_with_K(image: np.ndarray, K: np.ndarray, size: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A whole image resized to size × size (area filter) and its intrinsics (K' = S K).

    Args:
        image: (H, W, 3) uint8. K: (3, 3) pixel intrinsics of `image`. size: the output side.

    Returns:
        (image (size, size, 3) uint8, K' (3, 3) float64, S (3, 3) float64: input px → output
        px, to map 2D labels alike). Non-square images are stretched (fx and fy then differ).
    """
    h, w = image.shape[:2]
    S = resize_matrix((h, w), (size, size), dtype=torch.float64).numpy()
    if (h, w) != (size, size):
        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(image), S @ np.asarray(K, np.float64), S


def collate_items(items: Sequence[dict]) -> dict:
    """Stack the good items' tensors key by key; ``bad`` lists the reasons of the skipped ones
    (items of the form ``{"bad": reason}``; the task counts them)."""
    good = [x for x in items if "bad" not in x]
    batch: dict[str, Any] = {k: torch.stack([x[k] for x in good]) for k in good[0]} if good else {}
    batch["bad"] = [x["bad"] for x in items if "bad" in x]
    return batch


def collate_hands(items: Sequence[dict], per_hand: Sequence[str]) -> dict:
    """Batch items whose `per_hand` tensors have a leading hand axis of any length.

    Args:
        items: dicts of tensors; ``item[k]`` for k in `per_hand` is (n_i, ...) with the same
            trailing shape across items; other keys are stacked as in `collate_items`.
        per_hand: the keys with a hand axis.

    Returns:
        The batch: per-hand keys (B, N, ...) zero-padded to N = max n_i, ``hand_mask``
        (B, N) bool (True = a real hand), other keys stacked, ``bad`` as in `collate_items`.
    """
    good = [x for x in items if "bad" not in x]
    batch = collate_items([{k: v for k, v in x.items() if k not in per_hand} for x in good])
    batch["bad"] = [x["bad"] for x in items if "bad" in x]
    if not good:
        return batch
    lead = per_hand[0] if per_hand else None  # the key whose hand count the others must match
    counts = [int(x[lead].shape[0]) if lead else 0 for x in good]
    n = max(counts, default=0)
    for key in per_hand:
        first = good[0][key]
        out = first.new_zeros((len(good), n, *first.shape[1:]))
        for i, x in enumerate(good):
            value: Tensor = x[key]
            if value.shape[0] != counts[i]:
                raise ValueError(f"{key}: item {i} has {value.shape[0]} hands, "
                                 f"{lead} has {counts[i]}.")
            out[i, : counts[i]] = value
        batch[key] = out
    batch["hand_mask"] = torch.arange(n)[None, :] < torch.tensor(counts)[:, None]
    return batch
