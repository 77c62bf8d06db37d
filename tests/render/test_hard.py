"""Hard visibility: z-buffer face ids, differentiable barycentrics, perspective-correct depth."""

import numpy as np
import torch
from _render_cases import centres_inside

from handkit.geometry.camera import pixel_rays
from handkit.render import (
    PinholeCamera,
    flat_face_colors,
    hard_blend,
    rasterize_hard,
    render,
    vertex_colors,
)


def test_face_map_matches_reference_and_depth_order(small_mesh):
    verts, faces = small_mesh
    frags = rasterize_hard(verts, faces, 16)
    inside = [centres_inside(verts[0, 3 * f:3 * f + 3, :2].numpy(), 16, 16) for f in range(3)]
    expected = np.full((16, 16), -1)
    for f in (2, 1, 0):  # nearest last: face 0 (z ≈ 0.5) wins over face 1 (z ≈ 0.6)
        expected[inside[f]] = f
    np.testing.assert_array_equal(frags.face_map[0].numpy(), expected)
    assert not frags.mask.requires_grad


def test_perspective_correct_depth_and_attributes():
    # a slanted 3D triangle: at each covered pixel the interpolated depth and x must be those of
    # the ray-plane intersection z = (n·p0) / (n·x̂), x = z·x̂_x (x̂ = K⁻¹[u, v, 1])
    pts = torch.tensor([[[-0.05, -0.04, 0.4], [0.06, -0.03, 0.7], [-0.01, 0.06, 0.5]]],
                       dtype=torch.float64)
    K = torch.tensor([[60.0, 0, 16], [0, 60.0, 16], [0, 0, 1]], dtype=torch.float64)
    faces = torch.tensor([[0, 1, 2]])
    cam = PinholeCamera(K)
    frags = rasterize_hard(cam.to_screen(pts), faces, 32)
    assert frags.pix.numel() > 50
    rows, cols = frags.pix // 32, frags.pix % 32
    uv = torch.stack([cols + 0.5, rows + 0.5], -1).to(torch.float64)
    rays = pixel_rays(uv, K)
    p0, p1, p2 = pts[0]
    n = torch.linalg.cross(p1 - p0, p2 - p0)
    z = (n @ p0) / (rays @ n)
    torch.testing.assert_close(frags.depth, z, rtol=1e-12, atol=1e-12)
    x = hard_blend(frags, vertex_colors(pts[..., :1], faces))[0].reshape(-1)[frags.pix]
    torch.testing.assert_close(x, z * rays[:, 0], rtol=1e-12, atol=1e-12)


def test_hard_gradients_match_finite_differences(small_mesh):
    verts, faces = small_mesh
    g = torch.Generator().manual_seed(5)
    colors = torch.rand(1, 9, 2, dtype=torch.float64, generator=g)
    face_colors = torch.rand(1, 3, 2, dtype=torch.float64, generator=g)
    w1, w2 = torch.rand(1, 16, 16, 2, dtype=torch.float64, generator=g).unbind(-1)

    def loss(v, c, fc):
        frags = rasterize_hard(v, faces, 16)
        rgb = hard_blend(frags, vertex_colors(c, faces)) + hard_blend(frags, flat_face_colors(fc))
        depth = torch.zeros(256, dtype=v.dtype).index_copy(0, frags.pix, frags.depth)
        return (rgb[..., 0] * w1).sum() + (rgb[..., 1] * w2).sum() + (depth * w1.reshape(-1)).sum()

    inputs = (verts.clone().requires_grad_(True), colors.requires_grad_(True),
              face_colors.requires_grad_(True))
    assert torch.autograd.gradcheck(loss, inputs, eps=1e-6, atol=1e-6, rtol=1e-5)


def test_hard_mode_silhouette_has_no_gradient(small_mesh):
    verts, faces = small_mesh
    pts = verts.clone()
    pts[..., :2] = (pts[..., :2] - 8.0) / 200.0 * pts[..., 2:]  # back to camera-frame meters
    K = torch.tensor([[200.0, 0, 8], [0, 200.0, 8], [0, 0, 1]], dtype=torch.float64)
    pts.requires_grad_(True)
    out = render(pts, faces, PinholeCamera(K), 16, mode="hard",
                 attrs=vertex_colors(torch.ones(1, 9, 3, dtype=torch.float64), faces),
                 outputs=("silhouette", "rgb", "depth"))
    assert not out.silhouette.requires_grad
    torch.testing.assert_close(out.silhouette[0], rasterize_hard(verts, faces, 16).mask[0].double())
    out.depth.sum().backward()
    assert torch.isfinite(pts.grad).all() and pts.grad.abs().sum() > 0
