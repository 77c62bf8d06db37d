"""Turn soft `Fragments` into images: silhouette, blended colour (or any attribute), depth.

**Silhouette (SoftRas eq. 4):** A = 1 − Π_j (1 − D'_j), accumulated as Σ log(1 − D'_j) with
`index_add` (stable where D' → 1).

**Colour (SoftRas eq. 5-6, pytorch3d ``softmax_rgb_blend``):** per pixel
I = (Σ_j w_j C_j + w_b C_b) / (Σ_j w_j + w_b) with w_j = D'_j · exp(−z_j / γ_z) and a
background plane at z = zfar, w_b = exp(−zfar / γ_z); γ_z = γ · (zfar − znear) turns the
dimensionless SoftRas/pytorch3d γ into meters (γ = 1e-4 on [0.01, 10] m ⇒ ≈ 1 mm). Exponents
are taken relative to the nearest covering depth of each pixel (computed without gradient,
which is exact: the shift cancels), so no weight under- or overflows.

Attributes are either flat, (B, F, C) one value per face (`flat_face_colors`, S2HAND's
neural_renderer textures of size 1), or per corner, (B, F, 3, C) interpolated with the
barycentrics (`vertex_colors`, SMHR's per-vertex colours).
"""

from __future__ import annotations

import torch
from torch import Tensor

from handkit.render.raster import FragmentBlock, Fragments
from handkit.utils.check import check_shape

__all__ = ["soft_silhouette", "soft_blend", "soft_depth", "background_table"]


def soft_silhouette(frags: Fragments) -> Tensor:
    """Soft silhouette A = 1 − Π_j (1 − D'_j).

    Args:
        frags: from `rasterize` (``attributes`` may be False).

    Returns:
        (B, H, W) float in [0, 1].
    """
    acc = _accumulate(frags, [[blk.log_uncovered] for blk in frags.blocks], 1)
    return -torch.expm1(acc[0]).reshape(frags.batch, frags.height, frags.width)


def _accumulate(frags: Fragments, values: list[list[Tensor]], channels: int) -> Tensor:
    """Σ over pairs of per-pair values into a (C, B·H·W) buffer (the dump slot dropped).

    ``values[b][c]`` is block b's (N, k, k) value of channel c.
    """
    like = frags.blocks[0].coverage if frags.blocks else torch.zeros(())
    out = like.new_zeros(channels, frags.dump + 1)
    rows = []
    for c in range(channels):
        acc = out[c]
        for blk, v in zip(frags.blocks, values):
            acc = acc.index_add(0, blk.pix.reshape(-1), v[c].reshape(-1))
        rows.append(acc[:-1])
    return torch.stack(rows)


def soft_blend(frags: Fragments, attrs: Tensor, *, background: Tensor | float = 0.0,
               gamma: float = 1e-4) -> Tensor:
    """Soft z-buffered blend of face attributes (module doc).

    Args:
        frags: from `rasterize(..., attributes=True)`.
        attrs: (B, F, C) float, flat per face, or (B, F, 3, C) per face corner (from
            `flat_face_colors` / `vertex_colors`); colours in [0, 1] or anything linear.
        background: scalar, (C,) or (B, C) float: the value of uncovered pixels.
        gamma: SoftRas/pytorch3d depth temperature γ (dimensionless, > 0): smaller = harder
            z-buffer; 1e-4 is both libraries' default. Depth is normalised by the
            [znear, zfar] given to `rasterize`; the background sits at zfar.

    Returns:
        (B, H, W, C) float.
    """
    if frags.blocks and frags.blocks[0].bary is None:
        raise ValueError("frags: no barycentrics; rasterize with attributes=True to blend.")
    hint = "build it with flat_face_colors() (B, F, C) or vertex_colors() (B, F, 3, C)."
    if attrs.ndim == 3:
        channels = check_shape(attrs, f"{frags.batch} {frags.num_faces} C", name="attrs",
                               hint=hint)["C"]
        flat = attrs.reshape(-1, channels)

        def values(blk: FragmentBlock) -> list[Tensor]:
            a = flat[blk.face]  # (N, C)
            return [a[:, c, None, None].expand_as(blk.coverage) for c in range(channels)]
    else:
        channels = check_shape(attrs, f"{frags.batch} {frags.num_faces} 3 C", name="attrs",
                               hint=hint)["C"]
        corners = attrs.reshape(-1, 3, channels)

        def values(blk: FragmentBlock) -> list[Tensor]:
            n, k = blk.coverage.shape[:2]
            a = corners[blk.face].transpose(1, 2)  # (N, C, 3)
            out = torch.bmm(a, blk.bary.reshape(n, 3, k * k)).reshape(n, channels, k, k)
            return list(out.unbind(1))
    return _blend(frags, values, channels, background, gamma)


def soft_depth(frags: Fragments, *, gamma: float = 1e-4, background: float = 0.0) -> Tensor:
    """Soft z-buffered depth: each pair's interpolated depth blended like `soft_blend`.

    Returns:
        (B, H, W) float, meters; ``background`` (default 0, as neural_renderer's zeroed far
        value) where nothing is drawn, blended towards it at soft edges.
    """
    if frags.blocks and frags.blocks[0].depth is None:
        raise ValueError("frags: no depth; rasterize with attributes=True.")
    return _blend(frags, lambda blk: [blk.depth], 1, background, gamma)[..., 0]


def _blend(frags: Fragments, pair_values, channels: int, background: Tensor | float,
           gamma: float) -> Tensor:
    """Shared soft z-buffer; ``pair_values(block)`` gives C tensors (N, k, k) per block."""
    if not gamma > 0:
        raise ValueError(f"gamma: must be > 0, got {gamma}.")
    inv_gz = 1.0 / (gamma * (frags.zfar - frags.znear))
    like = frags.blocks[0].coverage if frags.blocks else torch.zeros(())
    with torch.no_grad():  # nearest covering depth per pixel (zfar where nothing covers)
        near = like.new_full((frags.dump + 1,), frags.zfar)
        for blk in frags.blocks:
            z = blk.depth.masked_fill(blk.coverage <= 0, frags.zfar)
            near = near.scatter_reduce(0, blk.pix.reshape(-1), z.reshape(-1), "amin")
    values = []
    for blk in frags.blocks:
        # pairs nearer than `near` have zero coverage: exponent 0 keeps their exp() finite
        # (a where, not a clamp: clamp's gradient vanishes at the nearest pair, where rel = 0)
        rel = torch.where(blk.coverage > 0, blk.depth - near[blk.pix], 0.0)
        w = blk.coverage * torch.exp(rel * -inv_gz)
        values.append([v * w for v in pair_values(blk)] + [w])
    acc = _accumulate(frags, values, channels + 1)  # (C + 1, BHW)
    w_bg = torch.exp((frags.zfar - near[:-1]) * -inv_gz)  # (BHW,)
    bg = background_table(background, frags.batch, channels, like)  # (B, C)
    bg = bg.t()[:, :, None].expand(channels, frags.batch, frags.height * frags.width)
    out = (acc[:channels] + w_bg * bg.reshape(channels, -1)) / (acc[channels] + w_bg)
    return out.reshape(channels, frags.batch, frags.height, frags.width).permute(1, 2, 3, 0)


def background_table(background: Tensor | float, batch: int, channels: int, like: Tensor) -> Tensor:
    """A scalar, (C,) or (B, C) background as (B, C) on ``like``'s device and dtype."""
    bg = torch.as_tensor(background, dtype=like.dtype, device=like.device)
    if bg.ndim == 0:
        return bg.expand(batch, channels)
    if bg.shape == (channels,):
        return bg[None].expand(batch, channels)
    if bg.shape == (batch, channels):
        return bg
    raise ValueError(f"background: expected a scalar, ({channels},) or ({batch}, {channels}), "
                     f"got {tuple(bg.shape)}.")
