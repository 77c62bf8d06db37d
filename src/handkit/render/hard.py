"""Hard-visibility rasterisation: a z-buffer without gradient, then differentiable interpolation.

This is how pytorch3d (``blur_radius = 0``, ``faces_per_pixel = 1``, SMHR's settings,
specs/mesh.md §3.6) and nvdiffrast behave: which face a pixel sees is a discrete choice made
under `torch.no_grad`; the barycentrics of the pixel centre in that face are then recomputed
from the (differentiable) vertices, so colours and depth carry gradients to the vertices and
the attributes, while the mask carries none.

**Coverage rule:** a pixel is covered when its centre lies inside or on a face (all screen
barycentrics ≥ 0); the nearest such face wins (ties: the lower face id); zero-area faces never
cover. Faces are tested on their bounding-box windows (render/raster.py) with no margin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from handkit.render.blend import background_table
from handkit.render.raster import (
    DEFAULT_WINDOWS,
    check_raster_inputs,
    drawable_faces,
    window_pixels,
    window_plan,
)
from handkit.render.screen import face_screen_params, interpolation_weights, window_barycentrics

__all__ = ["HardFragments", "rasterize_hard", "hard_blend"]

_NO_FACE = torch.iinfo(torch.int64).max


@dataclass(frozen=True)
class HardFragments:
    """Per covered pixel: which face it sees and its differentiable barycentrics and depth."""

    face_map: Tensor  # (B, H, W) int64, visible face id f (0 ≤ f < F), −1 where uncovered
    pix: Tensor  # (P,) int64 flat ids b·H·W + row·W + col of the covered pixels
    face: Tensor  # (P,) int64 global face id b·F + f
    bary: Tensor  # (P, 3) float, perspective-correct if asked, differentiable
    depth: Tensor  # (P,) float, meters, differentiable
    num_faces: int

    @property
    def mask(self) -> Tensor:
        """(B, H, W) bool coverage (no gradient)."""
        return self.face_map >= 0


def rasterize_hard(verts_px_z: Tensor, faces: Tensor, image_size: int | tuple[int, int], *,
                   znear: float = 0.01, zfar: float = 10.0, perspective_correct: bool = True,
                   cull_backfaces: bool = False,
                   windows: Sequence[int] = DEFAULT_WINDOWS) -> HardFragments:
    """Z-buffer rasterisation with differentiable barycentrics at the visible face.

    Args:
        verts_px_z: (B, V, 3) float: u, v pixels, z camera depth meters (render/raster.py).
        faces: (F, 3) int64 vertex ids.
        image_size: H or (H, W), pixels.
        znear, zfar, perspective_correct, cull_backfaces, windows: as in `rasterize`.

    Returns:
        `HardFragments`.
    """
    batch, height, width, faces = check_raster_inputs(verts_px_z, faces, image_size, znear, zfar)
    nf = faces.shape[0]
    tri = verts_px_z[:, faces].reshape(batch * nf, 3, 3)
    npix = batch * height * width
    with torch.no_grad():
        t = tri.detach()
        coef, area2, degenerate = face_screen_params(t)
        valid = drawable_faces(t, area2, znear, zfar, cull_backfaces) & ~degenerate
        col0, row0, bucket, sizes = window_plan(t, valid, 0.0, height, width, windows)
        best = torch.full((npix + 1,), _NO_FACE, dtype=torch.int64, device=tri.device)
        for b, k in enumerate(sizes):
            sel = torch.nonzero(bucket == b)[:, 0]
            if sel.numel() == 0:
                continue
            px, py, pix = window_pixels(sel, col0[sel], row0[sel], k, nf, batch, height, width,
                                        t.dtype)
            w = window_barycentrics(coef[sel], px, py)  # (N, 3, k, k)
            inside = w.amin(1) >= 0
            _, depth = interpolation_weights(w.clamp(min=0.0), t[sel][:, :, 2, None, None],
                                             perspective_correct)
            # z > 0 as float32 bits is monotone as an integer: pack (depth, face) in one key
            key = (depth.float().view(torch.int32).to(torch.int64) << 32) | sel[:, None, None]
            key = torch.where(inside, key, torch.full_like(key, _NO_FACE))
            best = best.scatter_reduce(0, pix.reshape(-1), key.reshape(-1), "amin")
        best = best[:-1]
        pix = torch.nonzero(best != _NO_FACE)[:, 0]
        face = best[pix] & 0xFFFFFFFF
        face_map = torch.full((npix,), -1, dtype=torch.int64, device=tri.device)
        face_map[pix] = face % max(nf, 1)
    rem = pix % (height * width)
    x = (rem % width).to(tri.dtype) + 0.5
    y = torch.div(rem, width, rounding_mode="floor").to(tri.dtype) + 0.5
    tri_vis = tri[face]  # (P, 3, 3), differentiable
    coef_vis = face_screen_params(tri_vis)[0]  # (P, 3, 3)
    w = coef_vis[..., 0] * x[:, None] + coef_vis[..., 1] * y[:, None] + coef_vis[..., 2]
    bary, depth = interpolation_weights(w.clamp(min=0.0), tri_vis[..., 2], perspective_correct)
    return HardFragments(face_map=face_map.reshape(batch, height, width), pix=pix, face=face,
                         bary=bary, depth=depth, num_faces=nf)


def hard_blend(frags: HardFragments, attrs: Tensor, *,
               background: Tensor | float = 0.0) -> Tensor:
    """Attributes of the visible face at each pixel (pytorch3d hard shading, no blur).

    Args:
        frags: from `rasterize_hard`.
        attrs: (B, F, C) flat per face or (B, F, 3, C) per corner (render/blend.py).
        background: scalar, (C,) or (B, C): the value of uncovered pixels.

    Returns:
        (B, H, W, C) float; gradients reach the attributes and, through the barycentrics of
        per-corner attributes, the vertices.
    """
    batch, height, width = frags.face_map.shape
    if attrs.ndim not in (3, 4) or attrs.shape[:2] != (batch, frags.num_faces) or (
            attrs.ndim == 4 and attrs.shape[2] != 3):
        raise ValueError(f"attrs: expected ({batch}, {frags.num_faces}, C) or ({batch}, "
                         f"{frags.num_faces}, 3, C), got {tuple(attrs.shape)}.")
    channels = attrs.shape[-1]
    if attrs.ndim == 3:
        values = attrs.reshape(-1, channels)[frags.face]
    else:
        corners = attrs.reshape(-1, 3, channels)[frags.face]  # (P, 3, C)
        values = (frags.bary[:, :, None] * corners).sum(1)
    bg = background_table(background, batch, channels, attrs)
    out = bg[:, None, :].expand(batch, height * width, channels).reshape(-1, channels)
    out = out.index_copy(0, frags.pix, values)
    return out.reshape(batch, height, width, channels)
