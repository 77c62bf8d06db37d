"""Normals, lighting (neural_renderer, SMHR's SH9), cameras and the `render` entry point."""

import math

import numpy as np
import pytest
import torch

from handkit.geometry.camera import project, weak_perspective_project
from handkit.hand.openhand import OpenHand
from handkit.render import (
    MeshRenderer,
    PinholeCamera,
    WeakPerspectiveCamera,
    ambient_directional,
    face_normals,
    flat_face_colors,
    render,
    sh9_basis,
    sh9_lighting,
    vertex_colors,
    vertex_normals,
)


def test_normals_of_a_flat_grid_and_a_degenerate_face():
    xs, ys = torch.meshgrid(torch.arange(3.0), torch.arange(3.0), indexing="ij")
    verts = torch.stack([xs, ys, torch.zeros_like(xs)], -1).reshape(1, 9, 3).double()
    faces = torch.tensor([[0, 3, 1], [1, 3, 4], [4, 5, 1], [0, 0, 1]])  # last: zero area
    verts.requires_grad_(True)
    fn = face_normals(verts, faces)
    torch.testing.assert_close(fn[0, :3], torch.tensor([[0, 0, 1.0]] * 3, dtype=torch.float64))
    assert torch.all(fn[0, 3] == 0)
    vn = vertex_normals(verts, faces)
    torch.testing.assert_close(vn[0, [0, 1, 3, 4, 5]], torch.tensor([[0, 0, 1.0]] * 5,
                                                                    dtype=torch.float64))
    assert torch.all(vn[0, [2, 6, 7, 8]] == 0)  # in no face
    (fn.sum() + vn.sum()).backward()
    assert torch.isfinite(verts.grad).all()


def test_sh9_basis_is_orthogonal_with_the_smhr_factors():
    # Gauss-Legendre in cos θ (3 nodes: exact to degree 5) x 6 uniform φ (exact to trig degree
    # 5) integrates products of two degree-2 harmonics exactly: ∫ Y_i Y_j dΩ = a_l² δ_ij.
    nodes, weights = np.polynomial.legendre.leggauss(3)
    phi = np.arange(6) * 2 * np.pi / 6
    ct, ph = np.meshgrid(nodes, phi, indexing="ij")
    st = np.sqrt(1 - ct ** 2)
    n = torch.tensor(np.stack([st * np.cos(ph), st * np.sin(ph), ct], -1).reshape(-1, 3))
    w = torch.tensor((weights[:, None] * np.full(6, 2 * np.pi / 6)).reshape(-1))
    y = sh9_basis(n)
    gram = (y * w[:, None]).T @ y
    a = [math.pi] + [2 * math.pi / math.sqrt(3)] * 3 + [2 * math.pi / math.sqrt(8)] * 5
    torch.testing.assert_close(gram, torch.diag(torch.tensor(a, dtype=torch.float64) ** 2))
    # signs as SMHR writes them: Y1 = −a1 c1 y, Y3 = −a1 c1 x, Y5 = −a2 c2 yz, Y7 = −a2 c2 xz
    c1, c2 = math.sqrt(3 / (4 * math.pi)), 3 * math.sqrt(5) / math.sqrt(12 * math.pi)
    y = sh9_basis(torch.tensor([[0.6, 0.0, 0.8], [0.0, 0.6, 0.8]], dtype=torch.float64))
    assert y[0, 3] == pytest.approx(-a[1] * c1 * 0.6) and y[1, 1] == pytest.approx(-a[1] * c1 * 0.6)
    assert y[0, 7] == pytest.approx(-a[4] * c2 * 0.48) and y[1, 5] == pytest.approx(-a[4] * c2 * 0.48)


def test_sh9_lighting_dc_and_ambient_directional():
    n = torch.nn.functional.normalize(torch.randn(2, 5, 3, dtype=torch.float64), dim=-1)
    coeffs = torch.zeros(2, 3, 9, dtype=torch.float64)
    coeffs[:, :, 0] = torch.tensor([0.8, 0.5, 0.2], dtype=torch.float64)
    light = sh9_lighting(n, coeffs)  # DC only: π · (1/√(4π)) · γ0 everywhere
    torch.testing.assert_close(light, (math.sqrt(math.pi) / 2 * coeffs[:, None, :, 0]).expand(2, 5, 3))
    d = torch.tensor([0.0, 0.0, -2.0], dtype=torch.float64)  # not normalised, as neural_renderer
    normals = torch.tensor([[[0.0, 0, -1], [0.0, 0, 1]]], dtype=torch.float64)
    out = ambient_directional(normals, ambient_intensity=0.3, directional_intensity=0.6,
                              ambient_color=torch.tensor([1.0, 0.5, 0.0], dtype=torch.float64),
                              direction=d)
    torch.testing.assert_close(out[0, 0], torch.tensor([0.3 + 1.2, 0.15 + 1.2, 1.2], dtype=torch.float64))
    torch.testing.assert_close(out[0, 1], torch.tensor([0.3, 0.15, 0.0], dtype=torch.float64))
    with pytest.raises(ValueError, match="coeffs"):
        sh9_lighting(n, torch.zeros(2, 27))


def test_cameras_reuse_the_geometry_projection_and_check_inputs():
    g = torch.Generator().manual_seed(0)
    verts = torch.randn(2, 7, 3, generator=g) * 0.05 + torch.tensor([0, 0, 0.6])
    K = torch.tensor([[[500.0, 0, 60], [0, 480, 70], [0, 0, 1]]] * 2)
    R = torch.linalg.qr(torch.randn(2, 3, 3, generator=g))[0]
    t = torch.randn(2, 3, generator=g) * 0.01
    scr = PinholeCamera(K, R, t).to_screen(verts)
    cam_pts = verts @ R.transpose(1, 2) + t[:, None]
    torch.testing.assert_close(scr[..., :2], project(cam_pts, K))
    torch.testing.assert_close(scr[..., 2], cam_pts[..., 2])
    wp = WeakPerspectiveCamera(torch.tensor([300.0, 200.0]), torch.tensor([[10.0, 20], [5, 6]]))
    torch.testing.assert_close(wp.to_screen(verts)[..., :2],
                               weak_perspective_project(verts, wp.scale, wp.trans))
    with pytest.raises(ValueError, match="K: expected"):
        PinholeCamera(torch.eye(4))
    with pytest.raises(ValueError, match="K: batch 2 does not match verts' batch 3"):
        PinholeCamera(K).to_screen(torch.randn(3, 7, 3))
    with pytest.raises(ValueError, match="trans"):
        wp.to_screen(torch.randn(3, 7, 3))


def test_render_openhand_soft_and_hard():
    hand = OpenHand()
    out = hand(torch.zeros(2, 3), torch.zeros(2, 15, 3))
    verts = out.vertices - out.vertices.mean(1, keepdim=True)
    verts = verts @ torch.tensor([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]]).T  # palm to the camera
    verts = verts + torch.tensor([0.0, 0.0, 0.5])
    K = torch.tensor([[100.0, 0, 16], [0, 100.0, 16], [0, 0, 1]])
    n = vertex_normals(verts, out.faces)
    attrs = vertex_colors(0.8 * ambient_directional(n), out.faces)
    verts.requires_grad_(True)
    soft = MeshRenderer(32, outputs=("silhouette", "rgb", "depth"))(verts, out.faces,
                                                                    PinholeCamera(K), attrs)
    hard = render(verts, out.faces, PinholeCamera(K), 32, attrs=attrs, mode="hard",
                  outputs=("silhouette", "rgb"))
    # a centre inside a face has D ≥ 1/2 for it, so D' ≥ (1/2 − ε)/(1 − ε) (ε = 1e-4)
    assert hard.silhouette.sum() > 100
    assert torch.all(soft.silhouette[hard.silhouette > 0] >= (0.5 - 1e-4) / (1 - 1e-4) - 1e-6)
    (soft.silhouette.sum() + soft.rgb.sum() + soft.depth.sum() + hard.rgb.sum()).backward()
    assert torch.isfinite(verts.grad).all()
    flat = render(verts, out.faces, PinholeCamera(K), 32,
                  attrs=flat_face_colors(torch.ones(2, out.faces.shape[0], 3)), outputs=("rgb",))
    assert flat.silhouette is None and flat.rgb.shape == (2, 32, 32, 3)


def test_render_bad_options_name_the_argument():
    faces = torch.tensor([[0, 1, 2]])
    verts = torch.tensor([[[0.0, 0, 0.5], [0.1, 0, 0.5], [0, 0.1, 0.5]]])
    cam = PinholeCamera(torch.tensor([[100.0, 0, 8], [0, 100, 8], [0, 0, 1]]))
    with pytest.raises(ValueError, match="mode"):
        render(verts, faces, cam, 16, mode="blurry")
    with pytest.raises(ValueError, match="outputs"):
        render(verts, faces, cam, 16, outputs=("normals",))
    with pytest.raises(ValueError, match="attrs"):
        render(verts, faces, cam, 16)
    with pytest.raises(ValueError, match="attrs: batch 2"):
        render(verts, faces, cam, 16, attrs=torch.ones(2, 1, 3))
    with pytest.raises(ValueError, match="unknown option"):
        MeshRenderer(16, sigmaa=1.0)


def test_mismatched_batches_and_bad_K_name_the_argument():
    """Bad input (issue 14): every per-image argument whose batch differs from the vertices',
    and every K that is not (3, 3) or (B, 3, 3), fails naming that argument."""
    faces = torch.tensor([[0, 1, 2]])
    verts = torch.tensor([[[0.0, 0, 0.5], [0.1, 0, 0.5], [0, 0.1, 0.5]]]).expand(3, 3, 3)
    K = torch.tensor([[100.0, 0, 8], [0, 100, 8], [0, 0, 1]])
    for bad_K in (torch.eye(4), K[:2], K[None, None].expand(2, 3, 3, 3), K.flatten()):
        with pytest.raises(ValueError, match="K: expected"):
            PinholeCamera(bad_K)
    with pytest.raises(ValueError, match="K: expected"):
        PinholeCamera(K.numpy())  # not a tensor: named too
    cases = [
        (dict(camera=PinholeCamera(K.expand(2, 3, 3))), "K: batch 2 does not match verts' batch 3"),
        (dict(camera=PinholeCamera(K, R=torch.eye(3).expand(2, 3, 3))), "R: batch 2"),
        (dict(camera=PinholeCamera(K, t=torch.zeros(4, 3))), "t: batch 4"),
        (dict(camera=WeakPerspectiveCamera(torch.ones(2), torch.zeros(3, 2))), "scale"),
        (dict(camera=WeakPerspectiveCamera(torch.ones(3), torch.zeros(2, 2))), "trans"),
        (dict(camera=PinholeCamera(K), attrs=torch.ones(2, 1, 3)), "attrs: batch 2"),
        (dict(camera=PinholeCamera(K), attrs=torch.ones(3, 1, 3), background=torch.zeros(2, 3)),
         "background"),
        (dict(camera=PinholeCamera(K), attrs=torch.ones(3, 1, 3), background=torch.zeros(2, 3),
              mode="hard"), "background"),
    ]
    for kwargs, message in cases:
        camera = kwargs.pop("camera")
        with pytest.raises(ValueError, match=message):
            render(verts, faces, camera, 16, outputs=("silhouette", "rgb") if "attrs" in kwargs
                   else ("silhouette",), **kwargs)
