"""Aligning a predicted point set to the ground truth: similarity Procrustes, root + scale.

**Convention:** points are row vectors; a similarity maps p ↦ s · p @ R + t with R (3, 3) a
proper rotation (det +1), s ≥ 0, t (3,), as in PeCLR's `calc_procrustes_transform`
(specs/pretrain.md §4.1). Units are the input's (meters in handkit).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from handkit.geometry._tensors import float_tensor
from handkit.hand.skeleton import JOINT_NAMES
from handkit.utils.check import check_choice, check_finite, check_shape

__all__ = ["Similarity", "procrustes_transform", "procrustes", "align_root_scale"]


@dataclass(frozen=True)
class Similarity:
    """A batch of similarity transforms p ↦ scale · p @ rotation + translation."""

    rotation: Tensor  # (B, 3, 3) proper rotation, acts on row vectors from the right
    scale: Tensor  # (B,) unitless, >= 0
    translation: Tensor  # (B, 3) same unit as the points

    def apply(self, points: Tensor) -> Tensor:
        """(B, N, 3) → (B, N, 3)."""
        return (self.scale[:, None, None] * points @ self.rotation
                + self.translation[:, None, :])


def _points_pair(pred: Any, gt: Any, valid: Any) -> tuple[Tensor, Tensor, Tensor]:
    """Checked (pred, gt, weights): (B, N, 3), (B, N, 3), (B, N) float; B may be 0."""
    pred = float_tensor(pred, "pred")
    gt = float_tensor(gt, "gt").to(pred)
    dims = check_shape(pred, "B N 3", name="pred", allow_empty=True)
    if dims["N"] == 0:
        raise ValueError(f"pred: needs at least one point per sample, got {tuple(pred.shape)}.")
    if gt.shape != pred.shape:
        raise ValueError(f"gt: expected the shape of pred {tuple(pred.shape)}, "
                         f"got {tuple(gt.shape)}.")
    check_finite(pred, name="pred")
    check_finite(gt, name="gt")
    if valid is None:
        weights = pred.new_ones(pred.shape[:2])
    else:
        weights = float_tensor(valid, "valid").to(pred)
        if weights.shape != pred.shape[:2]:
            raise ValueError(f"valid: expected {tuple(pred.shape[:2])} (one flag per point), "
                             f"got {tuple(weights.shape)}.")
        check_finite(weights, name="valid")
        if bool((weights < 0).any()):
            raise ValueError("valid: weights must be >= 0.")
    return pred, gt, weights


def procrustes_transform(pred: Any, gt: Any, valid: Any = None) -> Similarity:
    """The similarity that best maps `pred` onto `gt` in least squares (Umeyama 1991).

    Minimises Σ_i w_i ‖s · pred_i @ R + t − gt_i‖² over rotations R (det +1), s ≥ 0 and t.
    With H = P₀ᵀ W G₀ = U S Vᵀ for the weighted centred sets, R = U D Vᵀ with
    D = diag(1, 1, sign det(U Vᵀ)) (the reflection fix of spec §4.1: negate the last singular
    vector and value), s = tr(S D) / Σ w ‖P₀‖², t = μ_gt − s · μ_pred @ R.
    Computed in float64, returned in the input's dtype.

    Degenerate inputs (documented, all finite): if `pred` collapses to one point (e.g. all
    zeros), s = 0 and every point maps onto gt's centroid, which is the least-squares optimum;
    if `gt` collapses, H = 0 and s = 0 likewise; a sample with no valid point gets s = 0, t = 0.
    Gradients through the SVD are undefined at such inputs (and at repeated singular values).

    Args:
        pred: (B, N, 3) float, any unit (meters in handkit), the points to move.
        gt: (B, N, 3) float, same unit, the targets.
        valid: optional (B, N) bool or non-negative float weights (0 = ignore the point).

    Returns:
        `Similarity` with rotation (B, 3, 3), scale (B,), translation (B, 3).
    """
    pred, gt, weights = _points_pair(pred, gt, valid)
    dtype = pred.dtype
    p, g, w = pred.double(), gt.double(), weights.double()
    total = w.sum(1, keepdim=True).clamp_min(torch.finfo(torch.float64).tiny)
    mu_p = (w[..., None] * p).sum(1) / total
    mu_g = (w[..., None] * g).sum(1) / total
    p0, g0 = p - mu_p[:, None], g - mu_g[:, None]
    h = p0.transpose(1, 2) @ (w[..., None] * g0)
    u, sigma, vh = torch.linalg.svd(h)
    # det(U Vᵀ) is ±1; use its sign, never 0.
    flip = torch.where(torch.det(u @ vh) < 0, -1.0, 1.0).to(sigma)
    d = torch.cat([torch.ones_like(sigma[:, :2]), flip[:, None]], dim=1)
    rotation = u @ (d[..., None] * vh)
    var_p = (w * (p0 ** 2).sum(-1)).sum(1)
    scale = torch.where(var_p > 0, (sigma * d).sum(1) / var_p.clamp_min(1e-300),
                        torch.zeros_like(var_p))
    translation = mu_g - scale[:, None] * (mu_p[:, None] @ rotation)[:, 0]
    return Similarity(rotation.to(dtype), scale.to(dtype), translation.to(dtype))


def procrustes(pred: Any, gt: Any, valid: Any = None) -> Tensor:
    """`pred` after the best similarity onto `gt` (`procrustes_transform`); the PA in PA-MPJPE.

    Args:
        pred: (B, N, 3) float, any unit (meters in handkit).
        gt: (B, N, 3) float, same unit.
        valid: optional (B, N) bool/weights; invalid points do not influence the fit but are
            still transformed.

    Returns:
        (B, N, 3) float, the aligned prediction, in gt's frame and unit.
    """
    pred = float_tensor(pred, "pred")
    return procrustes_transform(pred, gt, valid).apply(pred)


def _joint(name: str | int, arg: str) -> int:
    if isinstance(name, int):
        if not 0 <= name < len(JOINT_NAMES):
            raise ValueError(f"{arg}: joint index {name} out of range 0..{len(JOINT_NAMES) - 1}.")
        return name
    check_choice(name, JOINT_NAMES, name=arg)
    return JOINT_NAMES.index(name)


def align_root_scale(pred: Any, gt: Any, *, root: str | int = "wrist",
                     bone: tuple[str | int, str | int] = ("wrist", "middle_mcp")) -> Tensor:
    """Root + scale alignment, no rotation (minimal-hand's `global_align`, specs/pretrain.md §3.3).

    aligned = (pred − pred[root]) · ‖gt[n] − gt[m]‖ / ‖pred[n] − pred[m]‖ + gt[root]
    for the bone (m, n); minimal-hand uses root wrist (0) and bone wrist–middle MCP (0, 9).
    A zero-length predicted bone gets scale 1 (translation only) instead of inf.

    Args:
        pred: (B, 21, 3) float, meters, handkit order.
        gt: (B, 21, 3) float, meters, handkit order.
        root: joint name (or handkit index) moved onto gt's.
        bone: two joint names (or indices) whose length sets the scale.

    Returns:
        (B, 21, 3) float, meters.
    """
    pred, gt, _ = _points_pair(pred, gt, None)
    check_shape(pred, "B 21 3", name="pred", allow_empty=True)
    r = _joint(root, "root")
    m, n = (_joint(j, "bone") for j in bone)
    len_pred = (pred[:, n] - pred[:, m]).norm(dim=-1)
    len_gt = (gt[:, n] - gt[:, m]).norm(dim=-1)
    ratio = torch.where(len_pred > 0, len_gt / len_pred.clamp_min(torch.finfo(pred.dtype).tiny),
                        torch.ones_like(len_pred))
    return (pred - pred[:, r:r + 1]) * ratio[:, None, None] + gt[:, r:r + 1]
