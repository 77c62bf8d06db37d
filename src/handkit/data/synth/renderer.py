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

__all__ = ["Fragments", "project_points", "rasterize", "vertex_normals", "shade",
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


def project_points(xyz: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Pinhole projection. (N, 3) meters, camera frame, (3, 3) K → (N, 2) pixels."""
    uvw = xyz @ K.T
    return uvw[:, :2] / uvw[:, 2:3]


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
        `Fragments`.
    """
    verts = np.asarray(verts, dtype=np.float64)
    uv = project_points(verts, np.asarray(K, dtype=np.float64))
    z = verts[:, 2]
    tri_uv = uv[faces]  # (F, 3, 2)
    e1 = tri_uv[:, 1] - tri_uv[:, 0]
    e2 = tri_uv[:, 2] - tri_uv[:, 0]
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    # outward winding, y-down image: a triangle facing the camera has det < 0
    keep = (z[faces].min(1) > _NEAR) & (np.abs(det) > 1e-12)
    if cull_backfaces:
        keep &= det < 0
    lo = np.floor(tri_uv.min(1) - 0.5).astype(np.int64) + 1  # first pixel centre >= min
    hi = np.floor(tri_uv.max(1) - 0.5).astype(np.int64)
    lo = np.maximum(lo, 0)
    hi = np.minimum(hi, [width - 1, height - 1])
    keep &= np.all(hi >= lo, axis=1)
    idx = np.nonzero(keep)[0]
    face_map = np.full(height * width, -1, dtype=np.int32)
    depth = np.zeros(height * width, dtype=np.float32)
    if len(idx) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Fragments(face_map.reshape(height, width), depth.reshape(height, width), empty,
                         empty, np.zeros((0, 3), np.float32))
    size = hi[idx] - lo[idx] + 1
    counts = size[:, 0] * size[:, 1]
    tri = np.repeat(idx, counts)
    start = np.repeat(np.cumsum(counts) - counts, counts)
    local = np.arange(len(tri)) - start
    bw = size[:, 0].repeat(counts)
    px = lo[tri, 0] + local % bw
    py = lo[tri, 1] + local // bw
    bary = _barycentric(tri_uv[tri], e1[tri], e2[tri], det[tri], px + 0.5, py + 0.5)
    inside = np.all(bary >= 0, axis=1)
    tri, px, py, bary = tri[inside], px[inside], py[inside], bary[inside]
    inv_z = (bary / z[faces[tri]]).sum(1)
    pix = py * width + px
    key = (np.round(1.0 / inv_z / _DEPTH_QUANT).astype(np.int64) << _FACE_BITS) | tri
    zbuf = np.full(height * width, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(zbuf, pix, key)
    covered = np.nonzero(zbuf != np.iinfo(np.int64).max)[0]
    win = zbuf[covered] & ((1 << _FACE_BITS) - 1)
    b = _barycentric(tri_uv[win], e1[win], e2[win], det[win],
                     covered % width + 0.5, covered // width + 0.5)
    b = np.clip(b, 0.0, None)
    w = b / z[faces[win]]
    zz = 1.0 / w.sum(1)
    w = w * zz[:, None]
    face_map[covered] = win
    depth[covered] = zz
    return Fragments(face_map.reshape(height, width), depth.reshape(height, width),
                     covered.astype(np.int64), win.astype(np.int64), w.astype(np.float32))


def _barycentric(tri_uv, e1, e2, det, x, y):
    qx = x - tri_uv[:, 0, 0]
    qy = y - tri_uv[:, 0, 1]
    b1 = (qx * e2[:, 1] - qy * e2[:, 0]) / det
    b2 = (e1[:, 0] * qy - e1[:, 1] * qx) / det
    return np.stack([1.0 - b1 - b2, b1, b2], axis=1)


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
          colors: np.ndarray, K: np.ndarray, light_dir: np.ndarray, light_rgb: np.ndarray,
          ambient: float, specular: float, shininess: float) -> np.ndarray:
    """Lambert + Blinn-Phong shading of the covered pixels.

    Args:
        frags: from `rasterize` of (verts, faces).
        verts: (V, 3) meters, camera frame. normals: (V, 3) unit. colors: (V, 3) albedo in [0, 1].
        K: (3, 3). light_dir: (3,) unit vector towards the light, camera frame.
        light_rgb: (3,) light color × intensity. ambient: ambient fraction of the albedo.
        specular: specular strength. shininess: Blinn-Phong exponent.

    Returns:
        (M, 3) float32 linear RGB of the pixels `frags.pix`.
    """
    vid = faces[frags.face]  # (M, 3)
    w = frags.weights[..., None]
    n = (normals[vid] * w).sum(1)
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-9)
    albedo = (colors[vid] * w).sum(1)
    p = (verts[vid] * w).sum(1)
    view = -p / np.linalg.norm(p, axis=1, keepdims=True)
    n = np.where((n * view).sum(1, keepdims=True) < 0, -n, n)  # silhouette grazing normals
    diffuse = np.clip(n @ light_dir, 0.0, None)[:, None]
    half = light_dir[None] + view
    half /= np.linalg.norm(half, axis=1, keepdims=True)
    spec = np.clip((n * half).sum(1), 0.0, None)[:, None] ** shininess
    rgb = albedo * (ambient + diffuse * light_rgb) + specular * spec * light_rgb
    return rgb.astype(np.float32)


def joint_visibility(joints: np.ndarray, K: np.ndarray, depth: np.ndarray, mask: np.ndarray,
                     tolerance: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """Which joints are seen: in the image, on the (visible) hand mask, and not behind a surface.

    Args:
        joints: (J, 3) meters, camera frame. K: (3, 3).
        depth: (H, W) meters, the rendered surface depth (0 = none).
        mask: (H, W) bool, visible pixels of this hand (occluders already removed).
        tolerance: meters; a joint is visible if the surface at its pixel is at most this far in
            front of it (joints sit inside the finger, ≈ one finger radius behind the skin).

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
    visible[inside] = mask[r, c] & (depth[r, c] > joints[inside, 2] - tolerance)
    return uv, visible
