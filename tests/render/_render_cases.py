"""Screen-space helpers for the renderer tests (a module of its own: `from conftest import`
resolves to whichever conftest.py was imported last when several test folders run together)."""

import numpy as np
import torch


def screen(points_uv, z) -> torch.Tensor:
    """(V, 2) pixels and a depth (scalar or (V,)) → (1, V, 3) float64 screen vertices."""
    uv = torch.as_tensor(points_uv, dtype=torch.float64)
    zz = torch.as_tensor(z, dtype=torch.float64).expand(len(uv))
    return torch.cat([uv, zz[:, None]], dim=-1)[None]


def centres_inside(tri_uv: np.ndarray, height: int, width: int) -> np.ndarray:
    """Reference point-in-triangle test at every pixel centre, (H, W) bool, plain numpy."""
    ys, xs = np.mgrid[0:height, 0:width] + 0.5
    a, b, c = np.asarray(tri_uv, dtype=np.float64)

    def side(p, q):
        return (q[0] - p[0]) * (ys - p[1]) - (q[1] - p[1]) * (xs - p[0])

    s0, s1, s2 = side(a, b), side(b, c), side(c, a)
    return ((s0 >= 0) & (s1 >= 0) & (s2 >= 0)) | ((s0 <= 0) & (s1 <= 0) & (s2 <= 0))


def edge_distance_map(tris, height: int, width: int) -> np.ndarray:
    """(H, W) distance (px) from each pixel centre to the nearest edge segment of any triangle.

    tris: (T, 3, 2) or (3, 2) pixel coordinates; plain numpy reference.
    """
    ys, xs = np.mgrid[0:height, 0:width] + 0.5
    best = np.full((height, width), np.inf)
    for tri in np.asarray(tris, dtype=np.float64).reshape(-1, 3, 2):
        for i in range(3):
            a, b = tri[i], tri[(i + 1) % 3]
            e = b - a
            t = np.clip(((xs - a[0]) * e[0] + (ys - a[1]) * e[1]) / max(e @ e, 1e-300), 0, 1)
            best = np.minimum(best, np.hypot(xs - a[0] - t * e[0], ys - a[1] - t * e[1]))
    return best
