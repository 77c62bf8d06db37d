"""Square crops around a hand: the box, the affine map T (K' = T K), and the warp.

The test-time crop of PeCLR's FreiHAND script (specs/pretrain.md §3.1, ``P:testing/fh_utils.py``):
``create_affine_transform_from_bbox(bbox, size)`` scales the box's longer side to `fill` = 0.7 of
the output and centres it; ``modify_bbox([0, 0, 224, 224], 0.33)`` is the first-pass box, a
square of side 0.33 · 224 centred on the image. Fine-tuning uses the same map for its pre-crop.

S2HAND's HO3D crop (specs/mesh.md §2.7, `s2hand_ho3d_crop`): centred on the box of the GT
projected joints (training) or of ``handBoundingBox`` (evaluation), side 4 × (largest half-extent
+ 10 px) clamped to [50, 640], with the centre jittered by N(0, 5²) px and the side grown by
1 / U(0.8, 0.9), both also at evaluation as released.

**Convention:** handkit pixels (pixel corners on integers, centre of column i at i + 0.5); T maps
source pixels to crop pixels, so keypoints map as ``uv' = T uv`` and intrinsics as ``K' = T K``.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from handkit.utils.check import check_shape

__all__ = ["keypoint_box", "centre_box", "box_crop_matrix", "warp_crop", "s2hand_ho3d_crop",
           "HO3D_CROP"]

HO3D_CROP = {"margin_px": 10.0, "half_extent_factor": 4.0, "min_side": 50.0, "max_side": 640.0,
             "centre_sigma_px": 5.0, "scale_jitter": (0.8, 0.9)}
"""S2HAND's HO3D crop constants (``examples/data/dataset.py``, HO3D branch; specs/mesh.md §2.7)."""

# handkit continuous coords (pixel centre at i + 0.5) <-> OpenCV's (pixel centre at i).
_TO_CV = np.array([[1.0, 0, -0.5], [0, 1.0, -0.5], [0, 0, 1.0]])
_FROM_CV = np.array([[1.0, 0, 0.5], [0, 1.0, 0.5], [0, 0, 1.0]])


def keypoint_box(uv: Any, valid: Any = None) -> np.ndarray:
    """(4,) float64 (x0, y0, x1, y1): the min/max box of the (valid) keypoints.

    Args:
        uv: (J, 2) float, pixels.
        valid: optional (J,) bool; at least one joint must be valid.
    """
    uv = np.asarray(uv, dtype=np.float64)
    check_shape(uv, "J 2", name="uv")
    if valid is not None:
        uv = uv[np.asarray(valid, dtype=bool)]
    if len(uv) == 0 or not np.isfinite(uv).all():
        raise ValueError("uv: no valid, finite keypoint to put a box around.")
    return np.concatenate([uv.min(0), uv.max(0)])


def centre_box(height: int, width: int, side_fraction: float = 0.33) -> np.ndarray:
    """(4,) square box centred on the image, side = `side_fraction` · min(H, W)
    (the official first pass: ``modify_bbox([0, 0, 224, 224], 0.33)``)."""
    side = side_fraction * min(height, width)
    cx, cy = width / 2, height / 2
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2])


def box_crop_matrix(box: Any, out_size: int, fill: float = 0.7) -> np.ndarray:
    """(3, 3) float64 T: the box's centre goes to the crop's centre and its longer side to
    `fill` · out_size (official ``create_affine_transform_from_bbox``, s = 0.7 · 224 / side).

    Args:
        box: (4,) (x0, y0, x1, y1) pixels of the source image.
        out_size: crop side in pixels.
        fill: fraction of the crop the box's longer side spans (0 < fill).
    """
    x0, y0, x1, y1 = (float(v) for v in np.asarray(box, dtype=np.float64).reshape(4))
    if not fill > 0 or out_size <= 0:
        raise ValueError(f"fill/out_size: must be > 0, got {fill} and {out_size}.")
    side = max(x1 - x0, y1 - y0, 1e-6)
    s = fill * out_size / side
    c = out_size / 2
    return np.array([[s, 0.0, c - s * (x0 + x1) / 2], [0.0, s, c - s * (y0 + y1) / 2],
                     [0.0, 0.0, 1.0]])


def warp_crop(image: np.ndarray, T: Any, out_size: int, *, border: int = 0,
              interpolation: str = "linear") -> np.ndarray:
    """Resample `image` through T into an (out_size, out_size, C) crop (constant border).

    Bilinear: when T shrinks by ≥ 1.5×, the image is first reduced with ``INTER_AREA`` (no
    aliasing, and a 10k × 10k photo costs one area resize instead of a huge warp). Nearest
    (label maps): each output pixel takes the input pixel containing its centre's preimage;
    labels are never averaged.

    Args:
        image: (H, W, C) or (H, W) uint8 (or float) array.
        T: (3, 3) float, source px → crop px (handkit convention).
        out_size: crop side in pixels.
        border: fill value outside the image.
        interpolation: "linear" (images) or "nearest" (label maps).
    """
    if interpolation not in ("linear", "nearest"):
        raise ValueError(f"interpolation: expected 'linear' or 'nearest', got {interpolation!r}.")
    m = np.asarray(T, dtype=np.float64).reshape(3, 3)
    if interpolation == "nearest":
        m = _TO_CV @ m @ _FROM_CV
        return cv2.warpAffine(image, m[:2], (out_size, out_size), flags=cv2.INTER_NEAREST,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=border)
    shrink = 1.0 / max(np.sqrt(abs(np.linalg.det(m[:2, :2]))), 1e-12)
    f = int(min(shrink, 64)) if shrink >= 1.5 else 1
    if f > 1:
        h, w = image.shape[:2]
        nw, nh = max(1, -(-w // f)), max(1, -(-h // f))
        image = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
        m = m @ np.diag([w / nw, h / nh, 1.0])
    m = _TO_CV @ m @ _FROM_CV
    return cv2.warpAffine(image, m[:2], (out_size, out_size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=border)


def s2hand_ho3d_crop(points: Any, height: int, width: int, out_size: int, *,
                     rng: np.random.Generator | None = None) -> np.ndarray:
    """(3, 3) float64 T (source px → crop px) of S2HAND's HO3D crop.

    The box of `points` (its corners clamped to the image, then grown by 10 px) has centre c;
    side = 4 · max(|box edge − c|) clamped to [50, 640] px (S2HAND's "crop_size_best": 4 × the
    largest half-extent, so about twice the hand box). With `rng` (the released behaviour, at
    training *and* evaluation): c += N(0, 5²) px per axis before the extents are measured, and
    the side is divided by f ~ U(0.8, 0.9] (S2HAND: ``scale *= 0.9 − 0.1 U``), i.e. the crop
    grows by 1.11–1.25×. Without `rng` there is no jitter (f = 1). The crop maps c to the crop
    centre: ``u' = (u − c) · out_size / side + out_size / 2``, which is S2HAND's K_crop = T S K
    (its image crop starts at ``c − side // 2``, up to half a pixel off its own K; handkit's
    warp follows T exactly).

    Args:
        points: (P, 2) float px: the GT projected joints, or ``handBoundingBox``'s two corners
            [[x0, y0], [x1, y1]] (evaluation). Non-finite rows are ignored.
        height, width: the source image size (S2HAND clamps to HO3D's 640 × 480).
        out_size: the crop side (S2HAND 224).
        rng: the jitter's generator, or None for none.

    Raises:
        ValueError: no finite point.
    """
    pts = np.asarray(points, dtype=np.float64)
    check_shape(pts, "P 2", name="points")
    pts = pts[np.isfinite(pts).all(-1)]
    if len(pts) == 0:
        raise ValueError("points: no finite point to centre the HO3D crop on.")
    c = (pts.min(0) + pts.max(0)) / 2
    f = 1.0
    if rng is not None:
        c = c + HO3D_CROP["centre_sigma_px"] * rng.standard_normal(2)
        lo, hi = HO3D_CROP["scale_jitter"]
        f = hi - (hi - lo) * rng.uniform()
    m = HO3D_CROP["margin_px"]
    lo_uv = np.maximum(pts.min(0), 0.0) - m
    hi_uv = np.minimum(pts.max(0), [float(width), float(height)]) + m
    side = HO3D_CROP["half_extent_factor"] * float(np.max(np.maximum(hi_uv - c, c - lo_uv)))
    side = min(max(side, HO3D_CROP["min_side"]), HO3D_CROP["max_side"]) / f
    s = out_size / side
    return np.array([[s, 0.0, out_size / 2 - s * c[0]], [0.0, s, out_size / 2 - s * c[1]],
                     [0.0, 0.0, 1.0]])
