"""CenterNet's centre heat-maps: Gaussian targets and the penalty-reduced focal loss.

The target maths is CenterNet's (Zhou et al. 2019, ``src/lib/utils/image.py``) exactly, as SMHR
uses it (specs/mesh.md §3.2, §3.5), including its quirks:

- `gaussian_radius` returns the minimum of the three roots with CenterNet's denominators
  (``(b + sqrt(b² − 4ac)) / 2`` for all three, not ``/ (2a)``): the published radius, which is
  what trained models expect; the caller truncates it to int and clamps at 0.
- `draw_umich_gaussian` draws a (2r + 1)² Gaussian with σ = (2r + 1) / 6 at the *integer* centre,
  merging by elementwise max, so the peak is exactly 1 there.

The targets are numpy (data side); `focal_loss` is torch.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from handkit.utils.check import check_shape

__all__ = ["gaussian_radius", "gaussian_2d", "draw_umich_gaussian", "focal_loss",
           "clamped_sigmoid", "SIGMOID_CLAMP"]

SIGMOID_CLAMP = 1e-4
"""CenterNet/SMHR clamp the heat-map sigmoid to [1e-4, 1 − 1e-4] (so the focal loss' logs stay
finite)."""


def gaussian_radius(height: float, width: float, min_overlap: float = 0.7) -> float:
    """CenterNet's Gaussian radius for a box of `height` × `width` (heat-map cells).

    The three cases of CornerNet (both corners inside, both outside, one of each) give three
    quadratics in r; the result is the smallest of their larger roots, each computed as
    ``(b + sqrt(b² − 4ac)) / 2`` as in CenterNet's code.

    Args:
        height, width: box size in heat-map cells (SMHR: the 2D keypoint box / 4).
        min_overlap: the IoU a box shifted by r must keep (0.7 in CenterNet and SMHR).

    Returns:
        The radius as a float (callers use ``max(0, int(r))``).
    """
    a1, b1 = 1.0, height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(b1 ** 2 - 4 * a1 * c1)) / 2
    a2, b2 = 4.0, 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 + math.sqrt(b2 ** 2 - 4 * a2 * c2)) / 2
    a3, b3 = 4 * min_overlap, -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + math.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def gaussian_2d(shape: tuple[int, int], sigma: float = 1.0) -> np.ndarray:
    """An unnormalised Gaussian exp(−(x² + y²) / 2σ²) on a (h, w) grid centred in the middle,
    with values below float64 eps × max set to 0 (CenterNet's ``gaussian2D``). (h, w) float64."""
    m, n = [(s - 1.0) / 2.0 for s in shape]
    y, x = np.ogrid[-m:m + 1, -n:n + 1]
    h = np.exp(-(x * x + y * y) / (2 * sigma * sigma))
    h[h < np.finfo(h.dtype).eps * h.max()] = 0
    return h


def draw_umich_gaussian(heatmap: np.ndarray, center: tuple[float, float], radius: int,
                        k: float = 1.0) -> np.ndarray:
    """Draw a Gaussian peak into `heatmap` in place, merging by max (CenterNet's
    ``draw_umich_gaussian``).

    Args:
        heatmap: (h, w) float array, modified in place.
        center: (x, y) in cells; truncated to int (the peak sits on that cell).
        radius: int ≥ 0; the Gaussian is (2r + 1)², σ = (2r + 1) / 6, clipped at the borders.
        k: peak value (1 for centre targets).

    Returns:
        `heatmap`.
    """
    radius = int(radius)
    diameter = 2 * radius + 1
    gaussian = gaussian_2d((diameter, diameter), sigma=diameter / 6)
    x, y = int(center[0]), int(center[1])
    height, width = heatmap.shape[:2]
    left, right = min(x, radius), min(width - x, radius + 1)
    top, bottom = min(y, radius), min(height - y, radius + 1)
    if left < 0 or top < 0 or right <= 0 or bottom <= 0:  # centre outside the map: nothing
        return heatmap
    masked_heatmap = heatmap[y - top:y + bottom, x - left:x + right]
    masked_gaussian = gaussian[radius - top:radius + bottom, radius - left:radius + right]
    if min(masked_gaussian.shape) > 0 and min(masked_heatmap.shape) > 0:
        np.maximum(masked_heatmap, masked_gaussian * k, out=masked_heatmap)
    return heatmap


def clamped_sigmoid(logits: Tensor) -> Tensor:
    """sigmoid clamped to [1e-4, 1 − 1e-4] (CenterNet's ``_sigmoid``; not in place here)."""
    return torch.sigmoid(logits).clamp(SIGMOID_CLAMP, 1 - SIGMOID_CLAMP)


def focal_loss(pred: Tensor, gt: Tensor, *, per_sample: bool = True) -> Tensor:
    """CornerNet/CenterNet penalty-reduced focal loss on heat-maps.

    L = −[Σ_pos log p (1 − p)² + Σ_neg log(1 − p) p² (1 − y)⁴] / N_pos, where positives are
    the cells with y == 1 exactly and N_pos their count (when N_pos = 0 only the negative sum,
    undivided, as CenterNet).

    Args:
        pred: (B, C, h, w) probabilities in (0, 1) (`clamped_sigmoid` of the logits).
        gt: (B, C, h, w) targets in [0, 1], peaks exactly 1 (`draw_umich_gaussian`).
        per_sample: True (SMHR): sums and N_pos per sample, returns (B,); False: over the whole
            batch as CenterNet's ``_neg_loss``, returns a scalar.

    Returns:
        (B,) or () float.
    """
    dims = check_shape(pred, "B C H W", name="pred")
    check_shape(gt, f"{dims['B']} {dims['C']} {dims['H']} {dims['W']}", name="gt")
    pos = gt.eq(1).to(pred.dtype)
    neg = 1.0 - pos
    pos_loss = torch.log(pred) * (1 - pred) ** 2 * pos
    neg_loss = torch.log(1 - pred) * pred ** 2 * (1 - gt) ** 4 * neg
    dims_sum = (1, 2, 3) if per_sample else (0, 1, 2, 3)
    num_pos = pos.sum(dims_sum)
    total = pos_loss.sum(dims_sum) + neg_loss.sum(dims_sum)
    return -total / torch.where(num_pos > 0, num_pos, torch.ones_like(num_pos))
