"""Windowed soft rasterisation of triangle meshes in plain torch (SoftRas semantics).

Every face is evaluated only on a square window of pixels covering its screen bounding box plus
the reach of its soft edge. Faces are grouped into buckets of window sizes (4, 6, 8, 12, ... px)
so the cost of a face follows its true size; each bucket is one batch of broadcast tensor ops.
The result, `Fragments`, lists (pixel, face) pairs block by block; `render.blend` turns them
into silhouettes, colour and depth with `index_add` accumulation.

**Convention (screen):** ``verts_px_z`` (B, V, 3) holds u (px, right), v (px, down) in handkit's
continuous pixel convention (pixel (i, j) covers [j, j + 1) x [i, i + 1) and is sampled at its
centre (j + 0.5, i + 0.5)) and z, the camera-frame depth in meters (> 0 in front of the camera).
Both windings are rasterised (neural_renderer's ``fill_back``, pytorch3d's default) unless
``cull_backfaces``; a face is front-facing when its screen winding is counter-clockwise as
displayed (twice its signed area (u1 − u0)(v2 − v0) − (u2 − u0)(v1 − v0) < 0 with v down): the
outward side of a mesh whose faces are counter-clockwise seen from outside (right-handed
normal (v1 − v0) × (v2 − v0) pointing out), looked at by a camera with x right, y down.

**Coverage (SoftRas, Liu et al. 2019, eq. 1):** D = sigmoid(±d²/σ) with d the distance (px) from
the pixel centre to the triangle (+ inside, − outside), σ in px² (SoftRas's NDC σ equals
σ_px² · (2/S)² for an S-px image). handkit subtracts the cut-off ε and rescales,
D' = (D − ε)₊ / (1 − ε), so coverage is exactly 0 beyond d_max = sqrt(σ·ln((1 − ε)/ε)) and the
images are continuous in the vertices whatever the window sizes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from handkit.render._soft_kernel import soft_window_kernel
from handkit.render.screen import face_screen_params
from handkit.utils.check import check_shape

__all__ = ["DEFAULT_WINDOWS", "FragmentBlock", "Fragments", "rasterize", "soft_edge_reach",
           "window_plan", "window_pixels", "check_raster_inputs", "drawable_faces"]

DEFAULT_WINDOWS: tuple[int, ...] = (4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)
"""Window side lengths (px) of the buckets; a face larger than the last uses the image size."""
_CHUNK_PAIRS = 1 << 16  # pairs per block: 64k keeps a block's temporaries in cache (measured)


@dataclass(frozen=True)
class FragmentBlock:
    """The (pixel, face) pairs of one window bucket: N faces x (k x k) pixels.

    ``pix`` indexes the flattened (B·H·W + 1) pixel buffer; pairs outside the image point to the
    extra last slot (``Fragments.dump``), so accumulations never need a boolean compaction.
    """

    face: Tensor  # (N,) int64, global face id b·F + f
    pix: Tensor  # (N, k, k) int64, flat pixel id b·H·W + row·W + col, or the dump slot
    coverage: Tensor  # (N, k, k) float, D' in [0, 1]
    log_uncovered: Tensor  # (N, k, k) float, log(1 − D') ≤ 0, finite
    bary: Tensor | None  # (N, 3, k, k) float, clipped (≥ 0, sum 1), perspective-correct if asked
    depth: Tensor | None  # (N, k, k) float, meters, interpolated with `bary`


@dataclass(frozen=True)
class Fragments:
    """Output of `rasterize`: blocks of pairs, plus what the shaders need to scatter them."""

    blocks: tuple[FragmentBlock, ...]
    batch: int
    height: int
    width: int
    num_faces: int
    sigma: float
    eps: float
    znear: float  # meters: the depth range, also used by the blend to normalise γ
    zfar: float

    @property
    def dump(self) -> int:
        """Index of the extra slot that swallows out-of-image pairs (= B·H·W)."""
        return self.batch * self.height * self.width


def soft_edge_reach(sigma: float, eps: float) -> float:
    """Distance (px) beyond which a pixel outside a triangle has coverage exactly 0.

    D = sigmoid(−d²/σ) = ε at d² = σ·ln((1 − ε)/ε); σ = 0 (hard edges) gives 0.
    """
    return math.sqrt(sigma * math.log((1.0 - eps) / eps)) if sigma > 0 else 0.0


def window_plan(tri: Tensor, valid: Tensor, reach: float, height: int, width: int,
                 windows: Sequence[int] | Literal["dense"]) -> tuple[Tensor, Tensor, Tensor, list[int]]:
    """Per face: first pixel column/row of its window and its bucket (−1 = not rasterised).

    Args:
        tri: (BF, 3, 3) float screen triangles (detached).
        valid: (BF,) bool, faces that may be drawn (in front of the camera, finite, facing).

    Returns:
        col0, row0: (BF,) int64 window origins; bucket: (BF,) int64 index into ``sizes``;
        sizes: the window side of each bucket.
    """
    side = max(height, width)
    lo = tri[..., :2].amin(dim=1) - reach - 0.5  # pixel j is touched when j + 0.5 ∈ [lo, hi]
    hi = tri[..., :2].amax(dim=1) + reach - 0.5
    first = torch.ceil(lo).clamp(min=0)
    last = torch.floor(hi)
    last = torch.minimum(last, last.new_tensor([width - 1, height - 1]))
    valid = valid & (last >= first).all(dim=1)
    if windows == "dense":
        sizes = [side]
        zero = torch.zeros_like(valid, dtype=torch.int64)
        return zero, zero, torch.where(valid, zero, zero - 1), sizes
    sizes = sorted({int(s) for s in windows if 0 < int(s) < side}) + [side]
    count = (last - first + 1).amax(dim=1).clamp(min=1)  # window side each face needs
    bucket = torch.searchsorted(count.new_tensor(sizes, dtype=count.dtype), count.contiguous())
    bucket = torch.where(valid, bucket, torch.full_like(bucket, -1))
    first = first.to(torch.int64)
    return first[:, 0], first[:, 1], bucket, sizes


def rasterize(verts_px_z: Tensor, faces: Tensor, image_size: int | tuple[int, int], *,
              sigma: float = 0.5, eps: float = 1e-4, znear: float = 0.01, zfar: float = 10.0,
              attributes: bool = True, perspective_correct: bool = True,
              cull_backfaces: bool = False,
              windows: Sequence[int] | Literal["dense"] = DEFAULT_WINDOWS) -> Fragments:
    """Soft-rasterise a batch of meshes into per-(pixel, face) coverage, barycentrics, depth.

    Args:
        verts_px_z: (B, V, 3) float: u, v in pixels (handkit convention), z camera depth in
            meters (module doc); from `PinholeCamera.to_screen` or `WeakPerspectiveCamera`.
        faces: (F, 3) int64 vertex ids, shared by the batch.
        image_size: H (square) or (H, W), pixels.
        sigma: edge softness σ, px² (> 0; 0.5 px² ≈ SoftRas's σ = 1e-4 at 128 px).
        eps: coverage cut-off ε in (0, 0.5) (SoftRas's ``dist_eps``); sets the window margin.
        znear, zfar: meters; faces with a vertex at z ≤ znear or z ≥ zfar are not drawn (no
            clipping: a face crossing the near plane is dropped whole).
        attributes: also compute clipped barycentrics and depth per pair (colour/depth shaders
            need them, the silhouette does not).
        perspective_correct: barycentrics interpolate in 3D (pinhole cameras) rather than on
            screen (weak perspective, where the two agree up to the affine depth).
        cull_backfaces: drop faces whose screen winding is back-facing (module doc).
        windows: bucket window sides in px, or ``"dense"``: every face on the full image
            (a slow reference for tests and benchmarks).

    Returns:
        `Fragments`; differentiable w.r.t. ``verts_px_z`` through coverage, barycentrics, depth.
    """
    if not sigma > 0:
        raise ValueError(f"sigma: must be > 0 px² (rasterize_hard has hard edges), got {sigma}.")
    if not 0 < eps < 0.5:
        raise ValueError(f"eps: must lie in (0, 0.5), got {eps}.")
    batch, height, width, faces = check_raster_inputs(verts_px_z, faces, image_size, znear, zfar)
    nf = faces.shape[0]
    tri = verts_px_z[:, faces].reshape(batch * nf, 3, 3)  # (BF, 3 corners, uvz)
    with torch.no_grad():
        t = tri.detach()
        valid = drawable_faces(t, face_screen_params(t)[1], znear, zfar, cull_backfaces)
        reach = soft_edge_reach(sigma, eps)
        col0, row0, bucket, sizes = window_plan(t, valid, reach, height, width,
                                                 windows)
        order = torch.argsort(bucket)
        counts = torch.bincount(bucket + 1, minlength=len(sizes) + 1).tolist()
    blocks = []
    start = counts[0]  # bucket −1 (not drawn) sorts first
    for k, n in zip(sizes, counts[1:]):
        step = max(1, _CHUNK_PAIRS // (k * k))  # chunks keep each block's temporaries in cache
        for lo in range(start, start + n, step):
            sel = order[lo:min(lo + step, start + n)]
            blocks.append(_block(tri, sel, col0[sel], row0[sel], k, nf, height, width,
                                 sigma, eps, attributes, perspective_correct))
        start += n
    return Fragments(blocks=tuple(blocks), batch=batch, height=height, width=width,
                     num_faces=nf, sigma=sigma, eps=eps, znear=znear, zfar=zfar)


def check_raster_inputs(verts_px_z: Tensor, faces: Tensor, image_size: int | tuple[int, int],
                        znear: float, zfar: float) -> tuple[int, int, int, Tensor]:
    """Validate the arguments shared by `rasterize` and `rasterize_hard`.

    Returns:
        batch, height, width and the faces as int64 on the vertices' device.
    """
    dims = check_shape(verts_px_z, "B V 3", name="verts_px_z",
                       hint="pass screen vertices: u, v pixels and z meters (camera.to_screen).")
    check_shape(faces, "F 3", name="faces", allow_empty=True)
    if faces.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"faces: expected an integer tensor of vertex ids, got {faces.dtype}.")
    if not verts_px_z.is_floating_point():
        raise ValueError(f"verts_px_z: expected a float tensor, got {verts_px_z.dtype}.")
    height, width = (image_size, image_size) if isinstance(image_size, int) else image_size
    if height <= 0 or width <= 0:
        raise ValueError(f"image_size: must be positive, got {image_size}.")
    if not 0 < znear < zfar:
        raise ValueError(f"znear, zfar: need 0 < znear < zfar, got {znear}, {zfar}.")
    faces = faces.to(device=verts_px_z.device, dtype=torch.int64)
    nv = dims["V"]
    if faces.numel() and (int(faces.min()) < 0 or int(faces.max()) >= nv):
        raise ValueError(f"faces: vertex ids must lie in [0, {nv}), got [{int(faces.min())}, "
                         f"{int(faces.max())}].")
    return dims["B"], height, width, faces


def drawable_faces(tri: Tensor, area2: Tensor, znear: float, zfar: float,
                   cull_backfaces: bool) -> Tensor:
    """(BF,) bool: finite faces strictly inside (znear, zfar), front-facing if culling.

    tri: (BF, 3, 3) screen triangles; area2: (BF,) twice their signed screen area.
    """
    z = tri[..., 2]
    valid = torch.isfinite(tri).all(dim=(1, 2)) & (z > znear).all(1) & (z < zfar).all(1)
    return valid & (area2 < 0) if cull_backfaces else valid


def _block(tri: Tensor, sel: Tensor, col0: Tensor, row0: Tensor, k: int, nf: int,
           height: int, width: int, sigma: float, eps: float, attributes: bool,
           perspective_correct: bool) -> FragmentBlock:
    """Evaluate the N faces ``sel`` on their k x k windows (`soft_window_kernel`)."""
    px, py, pix = window_pixels(sel, col0, row0, k, nf, tri.shape[0] // nf, height, width,
                                tri.dtype)
    coverage, log_uncovered, bary, depth = soft_window_kernel(
        tri[sel], px, py, sigma, eps, attributes, perspective_correct)
    return FragmentBlock(face=sel, pix=pix, coverage=coverage, log_uncovered=log_uncovered,
                         bary=bary, depth=depth)


def window_pixels(sel: Tensor, col0: Tensor, row0: Tensor, k: int, nf: int, batch: int,
                  height: int, width: int, dtype: torch.dtype) -> tuple[Tensor, Tensor, Tensor]:
    """Pixel centres px (N, 1, k), py (N, k, 1) of the windows, and flat ids (N, k, k) int64
    into the (B·H·W + 1) buffer, out-of-image pixels sent to the dump slot B·H·W."""
    ar = torch.arange(k, device=sel.device)
    cols = col0[:, None] + ar  # (N, k) int
    rows = row0[:, None] + ar
    px = (cols.to(dtype) + 0.5)[:, None, :]
    py = (rows.to(dtype) + 0.5)[:, :, None]
    with torch.no_grad():
        b = torch.div(sel, nf, rounding_mode="floor")
        inside_img = (cols < width)[:, None, :] & (rows < height)[:, :, None]
        flat = (b * (height * width))[:, None, None] + rows[:, :, None] * width + cols[:, None, :]
        pix = torch.where(inside_img, flat, torch.full_like(flat, batch * height * width))
    return px, py, pix


