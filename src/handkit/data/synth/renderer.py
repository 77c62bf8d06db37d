"""A small numpy z-buffer rasterizer and shader for the synthetic hand world.

Vectorised over (triangle, pixel) pairs: every front-facing triangle enumerates the pixel centres
of its bounding box, an edge test keeps those inside, and `np.minimum.at` on a packed
(depth, triangle) key resolves visibility. Depth and attributes are interpolated perspective-
correctly. No dependency beyond numpy and OpenCV (for image filters only).

**Convention:** camera frame in meters (x right, y down, z forward); pixels in handkit's
continuous convention (pixel (i, j) covers [i, i + 1) × [j, j + 1), its centre is sampled).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from handkit.geometry.camera import project_points

__all__ = ["Fragments", "rasterize", "vertex_normals", "shade",
           "joint_visibility"]

_NEAR = 0.05  # meters; triangles with a vertex closer than this are dropped
_DEPTH_QUANT = 1e-7  # meters per unit of the packed z-buffer key
_FACE_BITS = 24


@dataclass(frozen=True)
class Fragments:
    """Per-pixel rasterization result; ``pix`` lists the covered pixels (row-major flat ids)."""

    face_map: np.ndarray  # (H, W) int32, winning face id, -1 where no triangle covers
    depth: np.ndarray  # (H, W) float32, meters (z of the surface), 0 where uncovered
    pix: np.ndarray  # (M,) int64 flat pixel ids of covered pixels
    face: np.ndarray  # (M,) int64 face id per covered pixel
    weights: np.ndarray  # (M, 3) float32, perspective-correct barycentric weights


def rasterize(verts: np.ndarray, faces: np.ndarray, K: np.ndarray, height: int,
              width: int, cull_backfaces: bool = True) -> Fragments:
    """Z-buffer rasterization of a triangle mesh.

    Args:
        verts: (V, 3) float, meters, camera frame.
        faces: (F, 3) int, outward (counter-clockwise seen from outside) winding.
        K: (3, 3) float intrinsics, pixels.
        height, width: image size, pixels.
        cull_backfaces: drop triangles facing away from the camera (exact for closed meshes).

    Returns:
        `Fragments`. A pixel is covered when its centre is inside a triangle (edges shared by
        two triangles are covered by both, the z-test picks one).
    """
    verts = np.asarray(verts, dtype=np.float64)
    uv = project_points(verts, np.asarray(K, dtype=np.float64))
    z = verts[:, 2]
    tri_uv = uv[faces]  # (F, 3, 2)
    e1 = tri_uv[:, 1] - tri_uv[:, 0]
    e2 = tri_uv[:, 2] - tri_uv[:, 0]
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    # outward winding, y-down image: a triangle facing the camera has det < 0
    zf = z[faces]
    keep = (np.minimum(np.minimum(zf[:, 0], zf[:, 1]), zf[:, 2]) > _NEAR) & (np.abs(det) > 1e-12)
    if cull_backfaces:
        keep &= det < 0
    u, v = tri_uv[..., 0], tri_uv[..., 1]
    umin = np.minimum(np.minimum(u[:, 0], u[:, 1]), u[:, 2])
    vmin = np.minimum(np.minimum(v[:, 0], v[:, 1]), v[:, 2])
    umax = np.maximum(np.maximum(u[:, 0], u[:, 1]), u[:, 2])
    vmax = np.maximum(np.maximum(v[:, 0], v[:, 1]), v[:, 2])
    lo = np.stack([np.maximum(np.floor(umin - 0.5) + 1, 0), np.maximum(np.floor(vmin - 0.5) + 1, 0)],
                  1).astype(np.int64)  # first pixel centre >= min
    hi = np.stack([np.minimum(np.floor(umax - 0.5), width - 1),
                   np.minimum(np.floor(vmax - 0.5), height - 1)], 1).astype(np.int64)
    keep &= (hi[:, 0] >= lo[:, 0]) & (hi[:, 1] >= lo[:, 1])
    idx = np.nonzero(keep)[0]
    face_map = np.full(height * width, -1, dtype=np.int32)
    depth = np.zeros(height * width, dtype=np.float32)
    if len(idx) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Fragments(face_map.reshape(height, width), depth.reshape(height, width), empty,
                         empty, np.zeros((0, 3), np.float32))
    # per face, barycentrics b1, b2 and 1/z as affine functions of the pixel index (col, row):
    # value = c0 * col + c1 * row + c2 (pixel centres col + 0.5, row + 0.5 folded into c2)
    coef_all = _affine_coefficients(tri_uv, e1, e2, np.where(det == 0, 1.0, det), 1.0 / zf)
    coef = coef_all[idx]
    size = hi[idx] - lo[idx] + 1
    counts = size[:, 0] * size[:, 1]
    local_tri = np.repeat(np.arange(len(idx), dtype=np.int32), counts)
    start = np.repeat((np.cumsum(counts) - counts).astype(np.int32), counts)
    local = np.arange(len(local_tri), dtype=np.int32) - start
    bw = size[local_tri, 0].astype(np.int32)
    row = local // bw
    col = local - row * bw + lo[idx, 0].astype(np.int32)[local_tri]
    row += lo[idx, 1].astype(np.int32)[local_tri]
    coef32 = coef.astype(np.float32).reshape(len(idx), 9)
    colf, rowf = col.astype(np.float32), row.astype(np.float32)
    eps = np.float32(-1e-5)  # float32 slack: shared edges are covered by both faces

    def value(k: int, sel=slice(None)) -> np.ndarray:  # b1 (k=0), b2 (k=1), 1/z (k=2) per pair
        c = coef32[local_tri[sel]][:, 3 * k: 3 * k + 3]
        return c[:, 0] * colf[sel] + c[:, 1] * rowf[sel] + c[:, 2]

    b1 = value(0)
    first = np.nonzero(b1 >= eps)[0]
    b2 = value(1, first)
    second = (b2 >= eps) & (b1[first] + b2 <= 1 - eps)
    sel = first[second]
    inv_z = value(2, sel).astype(np.float64)
    tri = idx[local_tri[sel]]
    pix = row[sel].astype(np.int64) * width + col[sel]
    key = (np.round(1.0 / inv_z / _DEPTH_QUANT).astype(np.int64) << _FACE_BITS) | tri
    zbuf = np.full(height * width, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(zbuf, pix, key)
    covered = np.nonzero(zbuf != np.iinfo(np.int64).max)[0]
    win = zbuf[covered] & ((1 << _FACE_BITS) - 1)
    wc = coef_all[win]
    b = wc[:, :, 0] * (covered % width)[:, None] + wc[:, :, 1] * (covered // width)[:, None] \
        + wc[:, :, 2]
    bary = np.clip(np.stack([1.0 - b[:, 0] - b[:, 1], b[:, 0], b[:, 1]], 1), 0.0, None)
    w = bary / zf[win]
    zz = 1.0 / (w[:, 0] + w[:, 1] + w[:, 2])
    w *= zz[:, None]
    face_map[covered] = win
    depth[covered] = zz
    return Fragments(face_map.reshape(height, width), depth.reshape(height, width),
                     covered.astype(np.int64), win.astype(np.int64), w.astype(np.float32))


def _affine_coefficients(tri_uv, e1, e2, det, inv_z):
    """(F, 3, 3): for b1, b2 and 1/z, the coefficients (c_col, c_row, c_0) of the affine map
    from a pixel's integer (col, row) to the value at its centre (col + 0.5, row + 0.5)."""
    # b1 = (q × e2) / det, b2 = (e1 × q) / det with q = p - v0
    b1 = np.stack([e2[:, 1], -e2[:, 0]], 1) / det[:, None]
    b2 = np.stack([-e1[:, 1], e1[:, 0]], 1) / det[:, None]
    lin = np.stack([b1, b2], 1)  # (F, 2, 2): d(b1, b2)/d(u, v)
    const = -(lin @ tri_uv[:, 0, :, None])[..., 0]  # value at u = v = 0
    dz = inv_z[:, 1:] - inv_z[:, :1]  # 1/z = z0' + b1 dz1 + b2 dz2
    lin_z = dz[:, :1] * lin[:, 0] + dz[:, 1:] * lin[:, 1]
    const_z = inv_z[:, 0] + dz[:, 0] * const[:, 0] + dz[:, 1] * const[:, 1]
    lin = np.concatenate([lin, lin_z[:, None]], 1)  # (F, 3, 2)
    const = np.concatenate([const, const_z[:, None]], 1)  # (F, 3)
    return np.concatenate([lin, (const + (lin[..., 0] + lin[..., 1]) * 0.5)[..., None]], 2)


def vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals. (V, 3), (F, 3) → (V, 3) float32."""
    tri = verts[faces]
    fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals = np.zeros_like(verts)
    for k in range(3):
        np.add.at(normals, faces[:, k], fn)
    return (normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)).astype(
        np.float32)


def shade(frags: Fragments, verts: np.ndarray, normals: np.ndarray, faces: np.ndarray,
          colors: np.ndarray, light_dir: np.ndarray, light_rgb: np.ndarray,
          ambient: float, specular: float, shininess: float, wrap: float = 0.0,
          scatter_rgb: np.ndarray | None = None, sky_rgb: np.ndarray | None = None,
          ground_rgb: np.ndarray | None = None) -> np.ndarray:
    """Lambert + Blinn-Phong shading at the vertices, interpolated over the covered pixels
    (Gouraud; the meshes are dense enough at 64-512 px).

    Args:
        frags: from `rasterize` of (verts, faces).
        verts: (V, 3) meters, camera frame. normals: (V, 3) unit. colors: (V, 3) albedo in [0, 1].
        light_dir: (3,) unit vector towards the light, camera frame.
        light_rgb: (3,) light color × intensity. ambient: ambient fraction of the albedo.
        specular: specular strength. shininess: Blinn-Phong exponent.
        wrap: wrap-around diffuse, max(n·l + wrap, 0) / (1 + wrap) (0: Lambert); the light it
            adds beyond Lambert is tinted by `scatter_rgb` (light scattered under skin).
        sky_rgb, ground_rgb: a hemisphere fill light from above (−y) and below (+y).

    Returns:
        (M, 3) float32 RGB of the pixels `frags.pix`.
    """
    view = -verts / np.linalg.norm(verts, axis=1, keepdims=True)
    n = np.where((normals * view).sum(1, keepdims=True) < 0, -normals, normals)
    diffuse = np.clip(n @ light_dir, 0.0, None)[:, None]
    if wrap > 0:
        wrapped = np.clip((n @ light_dir + wrap) / (1 + wrap), 0.0, None)[:, None]
        tint = np.ones(3) if scatter_rgb is None else np.asarray(scatter_rgb)
        diffuse = diffuse + (wrapped - diffuse) * tint[None]
    if sky_rgb is not None or ground_rgb is not None:
        up = 0.5 - 0.5 * n[:, 1:2]  # 1 facing -y (up), 0 facing +y
        fill = up * np.asarray(sky_rgb if sky_rgb is not None else np.zeros(3))[None] + \
            (1 - up) * np.asarray(ground_rgb if ground_rgb is not None else np.zeros(3))[None]
        ambient = ambient + fill
    half = light_dir[None] + view
    half /= np.linalg.norm(half, axis=1, keepdims=True)
    spec = np.clip((n * half).sum(1), 0.0, None)[:, None] ** shininess
    lit = (colors * (ambient + diffuse * light_rgb) + specular * spec * light_rgb).astype(np.float32)
    tri = lit[faces[frags.face]]  # (M, 3 corners, 3 channels)
    w = frags.weights
    return tri[:, 0] * w[:, :1] + tri[:, 1] * w[:, 1:2] + tri[:, 2] * w[:, 2:]


def joint_visibility(joints: np.ndarray, K: np.ndarray, depth: np.ndarray, mask: np.ndarray,
                     tolerance: float | np.ndarray = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """Which joints are seen: in the image, on the (visible) hand mask, and not behind a surface.

    Args:
        joints: (J, 3) meters, camera frame. K: (3, 3).
        depth: (H, W) meters, the rendered surface depth (0 = none).
        mask: (H, W) bool, visible pixels of this hand (occluders already removed).
        tolerance: meters, one value or (J,) per joint; a joint is visible if the surface at its
            pixel is at most this far in front of it (joints sit inside the finger, ≈ one
            finger radius behind the skin).

    Returns:
        uv: (J, 2) float64 pixels; visible: (J,) bool.
    """
    uv = project_points(joints, K)
    h, w = depth.shape
    col = np.floor(uv[:, 0]).astype(np.int64)
    row = np.floor(uv[:, 1]).astype(np.int64)
    inside = (col >= 0) & (col < w) & (row >= 0) & (row < h) & (joints[:, 2] > _NEAR)
    visible = np.zeros(len(joints), dtype=bool)
    r, c = row[inside], col[inside]
    tol = np.broadcast_to(np.asarray(tolerance, np.float64), (len(joints),))[inside]
    visible[inside] = mask[r, c] & (depth[r, c] > joints[inside, 2] - tol)
    return uv, visible
