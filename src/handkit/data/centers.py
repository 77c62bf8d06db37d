"""Centre heat-map targets of single-stage multi-hand detectors (SMHR, specs/mesh.md §3.2).

Per image: a centre heat-map with one CenterNet Gaussian per hand (`losses.centernet`), a
2-channel handedness map (the Gaussian in the channel of the hand's side: 0 left, 1 right), and
up to ``max_objs`` slots with the flat index ``ind = y·w + x`` of each hand's centre cell and
its labels. Hands past ``max_objs`` still get their centre peak but no slot (SMHR's fifth
pasted hand).

**Convention (centre):** ``"box"``: the centre of the valid keypoints' bounding box (SMHR's
single-hand rule); ``"mean"``: the mean of the valid keypoints inside the image (SMHR's
``--avg_center``, its multi-hand rule). Both are divided by the stride and truncated to int;
a centre outside the map is clipped to the border cell (SMHR would index out of the map).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from handkit.losses.centernet import draw_umich_gaussian, gaussian_radius
from handkit.utils.check import check_choice, check_shape

__all__ = ["CENTER_RULES", "hand_center", "center_targets"]

CENTER_RULES = {"box": "centre of the keypoint bounding box (SMHR single-hand)",
                "mean": "mean of the in-image keypoints (SMHR --avg_center, multi-hand)"}


def hand_center(uv: np.ndarray, valid: np.ndarray, size: tuple[int, int],
                rule: Literal["box", "mean"] = "box") -> np.ndarray:
    """A hand's centre in pixels.

    Args:
        uv: (21, 2) float px. valid: (21,) bool. size: (H, W) of the image.
        rule: `CENTER_RULES`.

    Returns:
        (2,) float64 (x, y) px.

    Raises:
        ValueError: no valid keypoint (or, for "mean", none inside the image).
    """
    check_choice(rule, CENTER_RULES, name="center")
    pts = np.asarray(uv, dtype=np.float64)[np.asarray(valid, dtype=bool)]
    if rule == "mean":
        h, w = size
        inside = (pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= 0) & (pts[:, 1] < h)
        pts = pts[inside]
    if len(pts) == 0:
        raise ValueError(f"uv: no valid keypoint{' inside the image' if rule == 'mean' else ''}"
                         f" to place the hand's centre.")
    if rule == "mean":
        return pts.mean(0)
    return (pts.min(0) + pts.max(0)) / 2


def center_targets(uv: np.ndarray, valid: np.ndarray, is_right: np.ndarray,
                   image_size: tuple[int, int], *, stride: int = 4, max_objs: int = 4,
                   center: Literal["box", "mean"] = "box", min_overlap: float = 0.7) -> dict:
    """SMHR's heat-map targets and slots for one image.

    Args:
        uv: (N, 21, 2) float px of the network input. valid: (N, 21) bool.
        is_right: (N,) bool. image_size: (H, W) px; both divisible by `stride`.
        stride: heat-map stride (4). max_objs: slots (SMHR: 4; 1 at 224 px single-hand).
        center: `CENTER_RULES`. min_overlap: of `gaussian_radius` (0.7).

    Returns:
        dict of numpy arrays: ``hm`` (1, h, w) float32, ``handmap`` (2, h, w) float32,
        ``ind`` (max_objs,) int64, ``slot`` (max_objs,) bool (a real hand), ``uv``
        (max_objs, 21, 2) float32, ``valid`` (max_objs, 21) bool, ``is_right`` (max_objs,) bool,
        ``hand`` (max_objs,) int64 index of the slot's hand in the input (−1 empty).
        Hands without a valid keypoint are skipped.
    """
    n = check_shape(uv, "N 21 2", name="uv")["N"]
    check_shape(valid, f"{n} 21", name="valid")
    check_shape(is_right, f"{n}", name="is_right")
    H, W = image_size
    if H % stride or W % stride:
        raise ValueError(f"image_size: {H}x{W} px is not divisible by the stride {stride}.")
    h, w = H // stride, W // stride
    hm = np.zeros((1, h, w), np.float32)
    handmap = np.zeros((2, h, w), np.float32)
    out = {"ind": np.zeros(max_objs, np.int64), "slot": np.zeros(max_objs, bool),
           "uv": np.zeros((max_objs, 21, 2), np.float32), "valid": np.zeros((max_objs, 21), bool),
           "is_right": np.zeros(max_objs, bool), "hand": np.full(max_objs, -1, np.int64)}
    k = 0
    for i in range(n):
        ok = np.asarray(valid[i], dtype=bool)
        if not ok.any():
            continue
        try:
            cx, cy = hand_center(uv[i], ok, (H, W), center) / stride
        except ValueError:
            continue
        pts = np.asarray(uv[i], dtype=np.float64)[ok] / stride
        bw, bh = pts.max(0) - pts.min(0)
        radius = max(0, int(gaussian_radius(bh, bw, min_overlap)))
        x, y = int(np.clip(int(cx), 0, w - 1)), int(np.clip(int(cy), 0, h - 1))
        draw_umich_gaussian(hm[0], (x, y), radius)
        draw_umich_gaussian(handmap[int(bool(is_right[i]))], (x, y), radius)
        if k < max_objs:
            out["ind"][k] = y * w + x
            out["slot"][k] = True
            out["uv"][k] = uv[i]
            out["valid"][k] = ok
            out["is_right"][k] = bool(is_right[i])
            out["hand"][k] = i
            k += 1
    out["hm"], out["handmap"] = hm, handmap
    return out
