"""Two-hand part-segmentation labels: handkit's `Sample.part_seg` and DIGIT's 33 classes.

Two encodings of the same map, both uint8 with 0 = background:

- **handkit** (`Sample.part_seg`): hand slot s (0 = right, 1 = left for InterHand-style
  samples), part k (index into `hand.model.PART_NAMES`: 0 palm, then proximal/middle/distal of
  thumb, index, middle, ring, pinky) → ``1 + 16 s + k``.
- **DIGIT** (specs/digit.md §2.3, the files of ``segm_32`` and the model's 33 logit channels):
  right part p → ``p + 1`` (1-16), left part p → ``p + 17`` (17-32), p = the render repo's
  MANO part id. Its part ids (from specs/digit.md §2.3, derived there from face adjacency and
  the fingertip vertices, not stated in the source): palm 8; thumb base → tip 7, 9, 12; index
  10, 1, 11; middle 3, 14, 4; ring 0, 15, 5; pinky 2, 13, 6 (`DIGIT_PART_OF_HANDKIT`).

The labels are rendered with correct occlusion between the hands: `render_part_seg` uses the
hard-visibility rasteriser (`render.hard.rasterize_hard`: nearest face per pixel centre);
`scene_part_seg` turns the synthetic world's own z-buffered instance and part maps into the
same encoding. A face takes the part of its first vertex (the synthetic world's rule; vertex
labels are each vertex's dominant skinning joint for OpenHand and MANO alike).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from handkit.geometry.camera import project
from handkit.hand.model import PART_NAMES
from handkit.render.hard import rasterize_hard
from handkit.utils.check import check_shape

__all__ = ["NUM_PARTS", "NUM_CLASSES", "DIGIT_PART_OF_HANDKIT", "to_digit_classes",
           "from_digit_classes", "swap_hands", "scene_part_seg", "render_part_seg"]

NUM_PARTS = len(PART_NAMES)  # 16
NUM_CLASSES = 1 + 2 * NUM_PARTS  # 33
DIGIT_PART_OF_HANDKIT: tuple[int, ...] = (8, 7, 9, 12, 10, 1, 11, 3, 14, 4, 0, 15, 5, 2, 13, 6)
"""DIGIT's part id of each handkit part (`PART_NAMES` order): palm → 8, thumb proximal → 7, ..."""

_TO_DIGIT = np.array([0] + [1 + s * NUM_PARTS + DIGIT_PART_OF_HANDKIT[k]
                            for s in range(2) for k in range(NUM_PARTS)], np.uint8)
_FROM_DIGIT = np.argsort(_TO_DIGIT).astype(np.uint8)
_SWAP = np.array([0] + [1 + (c - 1 + NUM_PARTS) % (2 * NUM_PARTS)
                        for c in range(1, NUM_CLASSES)], np.uint8)


def _lookup(table: np.ndarray, labels: Any, name: str) -> Any:
    if isinstance(labels, Tensor):
        if labels.is_floating_point() or (labels.numel() and int(labels.max()) >= NUM_CLASSES) \
                or (labels.numel() and int(labels.min()) < 0):
            raise ValueError(f"{name}: expected integer labels in [0, {NUM_CLASSES}).")
        return torch.as_tensor(table, device=labels.device)[labels.long()].to(labels.dtype)
    labels = np.asarray(labels)
    if labels.dtype.kind not in "ui" or (labels.size and (labels.max() >= NUM_CLASSES
                                                          or labels.min() < 0)):
        raise ValueError(f"{name}: expected integer labels in [0, {NUM_CLASSES}), got dtype "
                         f"{labels.dtype}" + (f", range [{labels.min()}, {labels.max()}]."
                                              if labels.size else "."))
    return table[labels].astype(labels.dtype)


def to_digit_classes(part_seg: Any) -> Any:
    """handkit part labels (`Sample.part_seg`) → DIGIT's class ids; numpy or torch, any shape."""
    return _lookup(_TO_DIGIT, part_seg, "part_seg")


def from_digit_classes(classes: Any) -> Any:
    """DIGIT's class ids → handkit part labels (inverse of `to_digit_classes`)."""
    return _lookup(_FROM_DIGIT, classes, "classes")


def swap_hands(labels: Any) -> Any:
    """Swap the two hands' labels (1-16 ↔ 17-32), as a horizontal flip needs (DIGIT's
    ``swap_lr_labels_segm_target_channels``); the same in both encodings."""
    return _lookup(_SWAP, labels, "labels")


def scene_part_seg(instance: np.ndarray, parts: np.ndarray, slots: Sequence[int]) -> np.ndarray:
    """The synthetic world's label maps → handkit two-hand part labels.

    Args:
        instance: (H, W) int, −1 background, else the index of the visible hand in the scene.
        parts: (H, W) uint8, 0 background, 1 + `PART_NAMES` index of the visible part.
        slots: the label slot (0 or 1) of each scene hand (InterHand samples: 0 right, 1 left).

    Returns:
        (H, W) uint8 `Sample.part_seg`.
    """
    slot = np.asarray(slots, np.int64)
    if slot.size and (slot.min() < 0 or slot.max() > 1):
        raise ValueError(f"slots: expected 0 or 1 per hand, got {slot.tolist()}.")
    covered = (instance >= 0) & (parts > 0)
    out = np.zeros(instance.shape, np.uint8)
    out[covered] = parts[covered] + NUM_PARTS * slot[instance[covered]]
    return out


def render_part_seg(vertices: Any, faces: Any, vertex_parts: Any, K: Any,
                    size: tuple[int, int], *, slots: Sequence[int] = (0, 1)) -> np.ndarray:
    """Render hands' part labels with occlusion (nearest face wins; pixel centres sampled).

    Args:
        vertices: (N, V, 3) float, meters, camera frame (x right, y down, z forward); N ≤ 2.
            A hand with non-finite vertices is skipped (DIGIT's "missing hand").
        faces: (F, 3) int vertex ids of a right hand (winding does not matter: both sides
            are drawn).
        vertex_parts: (V,) int, index into `PART_NAMES` (`HandOutput.parts`).
        K: (3, 3) float intrinsics, pixels.
        size: (H, W) of the label image, pixels.
        slots: the label slot of each hand (0 right, 1 left).

    Returns:
        (H, W) uint8 `Sample.part_seg`.
    """
    verts = torch.as_tensor(np.ascontiguousarray(vertices), dtype=torch.float64)
    n, v = check_shape(verts, "N V 3", name="vertices").values()
    if n > 2 or len(slots) != n:
        raise ValueError(f"vertices: {n} hands with slots {list(slots)}; expected at most two "
                         "hands, one slot each.")
    faces_t = torch.as_tensor(np.ascontiguousarray(faces), dtype=torch.int64)
    parts_t = torch.as_tensor(np.ascontiguousarray(vertex_parts), dtype=torch.int64)
    check_shape(parts_t, f"{v}", name="vertex_parts")
    K_t = torch.as_tensor(np.ascontiguousarray(K), dtype=torch.float64)
    keep = [i for i in range(n) if bool(torch.isfinite(verts[i]).all())]
    height, width = size
    if not keep:
        return np.zeros((height, width), np.uint8)
    screen = torch.cat([project(verts[keep], K_t), verts[keep][..., 2:]], -1).reshape(1, -1, 3)
    all_faces = torch.cat([faces_t + k * v for k in range(len(keep))])
    frags = rasterize_hard(screen, all_faces, (height, width))
    face_label = torch.cat([1 + parts_t[faces_t[:, 0]] + NUM_PARTS * int(slots[i]) for i in keep])
    face_map = frags.face_map[0]
    out = torch.zeros((height, width), dtype=torch.int64)
    seen = face_map >= 0
    out[seen] = face_label[face_map[seen]]
    return out.numpy().astype(np.uint8)
