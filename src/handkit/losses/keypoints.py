"""Keypoint losses of the fine-tuning models, as pure functions (specs/pretrain.md §3.1, §3.3).

- `l1_25d_loss`: PeCLR/SiMHand ``cal_l1_loss`` (2.5D L1 with per-joint validity weights).
- `l1_3d_loss`: the weighting of ``cal_3d_loss`` (L1 on 3D keypoints with the same weights); the
  official function first reconstructs 3D with ``convert_2_5D_to_3D``, i.e.
  `geometry.pose25d.from_25d(..., convention="peclr_src")`, or pass RN25D's ``xyz``.
- `detnet_loss`: minimal-hand's ``DetLoss(λ_hm=100, λ_dm=1, λ_lm=1)`` as SiMHand uses it.

The official code weights the terms of the RN_25D_wMLPref fine-tuning nowhere (the recipe was
not released); the task chooses.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from handkit.utils.check import check_shape

__all__ = ["L25DTerms", "DetNetLossTerms", "l1_25d_loss", "l1_3d_loss", "detnet_loss"]


class L25DTerms(NamedTuple):
    """Terms of `l1_25d_loss`, each () float."""

    uv: Tensor          # pixels: mean |Δu|, |Δv| over valid joints
    z: Tensor           # bone lengths: mean |Δz_rel| over valid joints
    z_unscaled: Tensor  # mean |Δz_rel| · scale (meters when scale is in meters)


class DetNetLossTerms(NamedTuple):
    """Terms of `detnet_loss`, each () float; ``total = λ_hm·hm + λ_dm·dm + λ_lm·lm``."""

    total: Tensor
    hm: Tensor
    dm: Tensor
    lm: Tensor


def _joint_weights(valid: Tensor | None, like: Tensor) -> Tensor:
    """(B, 21, 1) weights valid / Σ valid (normalised over the whole batch × 21)."""
    b = like.shape[0]
    if valid is None:
        valid = torch.ones(b, 21, device=like.device, dtype=like.dtype)
    check_shape(valid, "B 21", name="valid", hint="One flag (0/1) or weight per joint.")
    if valid.shape[0] != b:
        raise ValueError(f"valid: expected ({b}, 21), got {tuple(valid.shape)}.")
    valid = valid.to(like.dtype)
    return (valid / valid.sum().clamp_min(torch.finfo(like.dtype).tiny))[..., None]


def l1_25d_loss(uv: Tensor, z_rel: Tensor, uv_gt: Tensor, z_rel_gt: Tensor, *,
                valid: Tensor | None = None, scale: Tensor | float = 1.0) -> L25DTerms:
    """L1 on 2.5D keypoints (PeCLR/SiMHand ``cal_l1_loss``, specs/pretrain.md §3.1).

    With w = valid / Σ valid over all B × 21 joints:
    ``uv = Σ |uv − uv_gt| · w / 2``, ``z = Σ |z − z_gt| · w``, ``z_unscaled = Σ |z − z_gt| · w · scale``.

    Args:
        uv, uv_gt: (B, 21, 2) float, pixels.
        z_rel, z_rel_gt: (B, 21) float, root-relative depth in bone lengths.
        valid: (B, 21) float/bool joint validity, default all valid.
        scale: () or (B,) float, the scale bone's length (e.g. meters).

    Returns:
        `L25DTerms`. With no valid joint every term is 0.
    """
    b = check_shape(uv, "B 21 2", name="uv")["B"]
    for name, t, shape in (("uv_gt", uv_gt, (b, 21, 2)), ("z_rel", z_rel, (b, 21)),
                           ("z_rel_gt", z_rel_gt, (b, 21))):
        if tuple(t.shape) != shape:
            raise ValueError(f"{name}: expected {shape}, got {tuple(t.shape)}.")
    w = _joint_weights(valid, uv)
    scale = torch.as_tensor(scale, dtype=uv.dtype, device=uv.device).reshape(-1, 1, 1)
    dz = (z_rel - z_rel_gt).abs()[..., None] * w
    return L25DTerms(uv=((uv - uv_gt).abs() * w).sum() / 2, z=dz.sum(),
                     z_unscaled=(dz * scale).sum())


def l1_3d_loss(xyz: Tensor, xyz_gt: Tensor, *, valid: Tensor | None = None) -> Tensor:
    """``Σ |xyz − xyz_gt| · w / 3`` with w = valid / Σ valid (the weighting of ``cal_3d_loss``).

    Args:
        xyz, xyz_gt: (B, 21, 3) float, same unit and frame (meters, or bone lengths).
        valid: (B, 21) joint validity, default all valid.

    Returns:
        () float: mean per-coordinate absolute error over valid joints, in xyz's unit.
    """
    b = check_shape(xyz, "B 21 3", name="xyz")["B"]
    if tuple(xyz_gt.shape) != (b, 21, 3):
        raise ValueError(f"xyz_gt: expected ({b}, 21, 3), got {tuple(xyz_gt.shape)}.")
    return ((xyz - xyz_gt).abs() * _joint_weights(valid, xyz)).sum() / 3


def detnet_loss(heatmaps: Tensor, delta_maps: Tensor, location_maps: Tensor,
                heatmaps_gt: Tensor, heatmap_valid: Tensor, delta_maps_gt: Tensor,
                location_maps_gt: Tensor, has_3d: Tensor, *, lambda_hm: float = 100.0,
                lambda_dm: float = 1.0, lambda_lm: float = 1.0) -> DetNetLossTerms:
    """minimal-hand's DetNet loss (``losses/detloss.py`` of SiMHand; specs/pretrain.md §3.3).

    With B the batch size and B₃ = Σ has_3d::

        hm = Σ_j 0.5 · mean_{b, pixels} ((Ĥ_bj − H_bj) · veil_bj)²
        dm = ‖(D̂ − D) · H‖_F / B₃        (3D samples only; H broadcast over xyz)
        lm = ‖(L̂ − L) · H‖_F / B₃
        total = 100 · hm + dm + lm

    dm and lm are Frobenius norms, **not squared**, as in the official code. With no 3D sample
    in the batch they are 0 (the official code would divide by zero).

    Args:
        heatmaps, heatmaps_gt: (B, 21, h, w) float in [0, 1] (predictions after the sigmoid).
        delta_maps, delta_maps_gt: (B, 21, 3, h, w) float, unit bone directions.
        location_maps, location_maps_gt: (B, 21, 3, h, w) float, root-relative xyz in bone
            lengths (wrist–middle-MCP = 1).
        heatmap_valid: (B, 21) float, the ``hm_veil`` (0 where the joint's Gaussian window lies
            entirely outside the map).
        has_3d: (B,) bool/float, the ``flag_3d``.
        lambda_hm, lambda_dm, lambda_lm: term weights (official 100, 1, 1).

    Returns:
        `DetNetLossTerms`.
    """
    dims = check_shape(heatmaps, "B 21 H W", name="heatmaps")
    b, h, w = dims["B"], dims["H"], dims["W"]
    for name, t, shape in (("heatmaps_gt", heatmaps_gt, (b, 21, h, w)),
                           ("heatmap_valid", heatmap_valid, (b, 21)),
                           ("delta_maps", delta_maps, (b, 21, 3, h, w)),
                           ("delta_maps_gt", delta_maps_gt, (b, 21, 3, h, w)),
                           ("location_maps", location_maps, (b, 21, 3, h, w)),
                           ("location_maps_gt", location_maps_gt, (b, 21, 3, h, w)),
                           ("has_3d", has_3d, (b,))):
        if tuple(t.shape) != shape:
            raise ValueError(f"{name}: expected {shape}, got {tuple(t.shape)}.")
    veil = heatmap_valid.to(heatmaps.dtype)[..., None, None]
    hm = 0.5 * ((heatmaps - heatmaps_gt) * veil).square().sum() / (b * h * w)
    sel = has_3d.bool()
    n3d = int(sel.sum())
    if n3d == 0:
        zero = heatmaps.sum() * 0
        dm = lm = zero
    else:
        weight = heatmaps_gt[sel][:, :, None]
        dm = ((delta_maps[sel] - delta_maps_gt[sel]) * weight).norm() / n3d
        lm = ((location_maps[sel] - location_maps_gt[sel]) * weight).norm() / n3d
    total = lambda_hm * hm + lambda_dm * dm + lambda_lm * lm
    return DetNetLossTerms(total=total, hm=hm, dm=dm, lm=lm)
