"""Screen-space triangle maths shared by the soft and the hard rasteriser.

**Convention:** pixels in handkit's continuous convention, u right, v down; z camera depth in
meters (render/raster.py).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["face_screen_params", "window_barycentrics", "interpolation_weights"]


def face_screen_params(tri: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Affine barycentric coefficients of screen triangles.

    Args:
        tri: (..., 3, 2+) float, the triangles' screen vertices (u, v in px; extra columns unused).

    Returns:
        coef: (..., 3, 3) float; barycentric i at pixel (x, y) is
            ``coef[..., i, 0] * x + coef[..., i, 1] * y + coef[..., i, 2]``.
        area2: (...,) float, twice the signed screen area (u1 − u0)(v2 − v0) − (u2 − u0)(v1 − v0);
            < 0 for a face counter-clockwise as displayed (front-facing, render/raster.py).
        degenerate: (...,) bool, |area2| ≤ 1e-10 px²; their coefficients give the constant
            barycentrics (−1, −1, 3): never inside, finite, clipped to vertex 2.
    """
    x, y = tri[..., 0], tri[..., 1]
    x0, x1, x2 = x.unbind(-1)
    y0, y1, y2 = y.unbind(-1)
    area2 = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
    degenerate = area2.abs() <= 1e-10
    inv = 1.0 / torch.where(degenerate, torch.ones_like(area2), area2)
    # barycentric i = edge function of the edge opposite vertex i, over area2
    rows = []
    for xa, ya, xb, yb in ((x1, y1, x2, y2), (x2, y2, x0, y0), (x0, y0, x1, y1)):
        rows.append(torch.stack([(ya - yb) * inv, (xb - xa) * inv, (xa * yb - xb * ya) * inv], -1))
    coef = torch.stack(rows, dim=-2)
    constant = coef.new_tensor([[0.0, 0.0, -1.0], [0.0, 0.0, -1.0], [0.0, 0.0, 3.0]])
    coef = torch.where(degenerate[..., None, None], constant, coef)
    return coef, area2, degenerate


def window_barycentrics(coef: Tensor, px: Tensor, py: Tensor) -> Tensor:
    """Screen barycentrics of N faces on their windows.

    Args:
        coef: (N, 3, 3) float from `face_screen_params`.
        px: (N, 1, k) float pixel-centre x per window column; py: (N, k, 1) per row.

    Returns:
        (N, 3, k, k) float (corner planes); the x and y parts are separable: one full-size add.
    """
    wx = coef[:, :, 0, None, None] * px[:, None] + coef[:, :, 2, None, None]  # (N, 3, 1, k)
    return wx + coef[:, :, 1, None, None] * py[:, None]


def interpolation_weights(w: Tensor, z: Tensor, perspective_correct: bool, *,
                          dim: int = 1) -> tuple[Tensor, Tensor]:
    """Attribute weights and depth from non-negative screen barycentrics.

    Args:
        w: float, screen barycentrics clipped at 0, the 3 corners along ``dim`` (any positive
            sum: renormalised).
        z: float, meters, the corners' camera depths, broadcasting against w.
        perspective_correct: b_i ∝ w_i / z_i and depth = 1 / Σ ŵ_i / z_i (pinhole); else
            b = ŵ and depth = Σ ŵ_i z_i (weak perspective), with ŵ = w / Σ w.
        dim: the corner dimension.

    Returns:
        bary: w's shape, sums to 1 along ``dim``; depth: w's shape without ``dim``, meters.
    """
    total = w.sum(dim, keepdim=True)
    if perspective_correct:
        wz = w / z
        inv_s = 1.0 / wz.sum(dim, keepdim=True)
        return wz.mul_(inv_s), (total * inv_s).squeeze(dim)
    bary = w / total
    return bary, (bary * z).sum(dim)
