"""Soft rasteriser: analytic coverage, windows, gradients, degenerate and clipped faces."""

import math

import numpy as np
import pytest
import torch
from _render_cases import centres_inside, edge_distance_map, screen

from handkit.render import (
    flat_face_colors,
    rasterize,
    rasterize_hard,
    soft_blend,
    soft_depth,
    soft_edge_reach,
    soft_silhouette,
    vertex_colors,
)

TRI = np.array([[10.3, 12.1], [50.7, 20.2], [25.4, 55.9]])


def _coverage_sum(verts, faces, size, **kw):
    return soft_silhouette(rasterize(verts, faces, size, attributes=False, **kw)).sum().item()


def test_triangle_area_matches_shoelace():
    # Along a straight edge sigmoid(±d²/σ) − step(d) is odd in d, so it integrates to 0; what
    # remains is confined to the 3 corner discs of radius d_max with |D − step| ≤ 1/2, i.e. at
    # most 3·π·d_max²/2. The pixel sum of a function this smooth (σ = 1 px²) is its integral.
    sigma, eps = 1.0, 1e-4
    verts = screen(TRI, 0.5)
    faces = torch.tensor([[0, 1, 2]])
    (x0, y0), (x1, y1), (x2, y2) = TRI
    area = 0.5 * abs((x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0))
    bound = 3 * math.pi * soft_edge_reach(sigma, eps) ** 2 / 2
    got = _coverage_sum(verts, faces, 64, sigma=sigma, eps=eps)
    assert abs(got - area) < bound
    assert abs(got - area) < 0.01 * area  # and in practice far inside that bound


def test_sharp_triangle_equals_pixel_centre_count():
    # σ = 0.003 px², d_max = 0.166 px: a centre farther than that from every edge has coverage
    # exactly 0 outside and ≥ 1 − ε inside. Legs x = 10.25, y = 12 and hypotenuse
    # x + y = 62.25 keep every centre ≥ 0.25/√2 = 0.177 px away.
    tri = np.array([[10.25, 12.0], [50.25, 12.0], [10.25, 52.0]])
    sigma = 0.003
    assert edge_distance_map(tri, 64, 64).min() > soft_edge_reach(sigma, 1e-4)
    sil = soft_silhouette(rasterize(screen(tri, 0.5), torch.tensor([[0, 1, 2]]), 64, sigma=sigma))
    ref = torch.as_tensor(centres_inside(tri, 64, 64), dtype=torch.float64)
    assert ref.sum() == 40 * 41 / 2  # column i = 10..49 holds rows 12..61 − i: 50 − i centres
    assert (sil[0] - ref).abs().max() <= 1e-4


def test_square_coverage():
    # square x ∈ [2.3, 9.3], y ∈ [2, 9] from two triangles; its diagonal y = x − 0.3 and its
    # edges stay ≥ 0.2 px from every pixel centre, so 7 x 7 = 49 centres are inside
    corners = [[2.3, 2.0], [9.3, 2.0], [9.3, 9.0], [2.3, 9.0]]
    verts = screen(corners, 0.5)
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    sil = soft_silhouette(rasterize(verts, faces, 12, sigma=0.002))[0]
    assert sil.sum().item() == pytest.approx(49.0, abs=1e-3)
    assert torch.all(sil[2:9, 2:9] > 1 - 1e-4)
    # soft edges: the coverage integrates to the area 49 up to the 4 corners (see above)
    sigma = 1.0
    total = _coverage_sum(verts, faces, 16, sigma=sigma)
    assert abs(total - 49.0) < 4 * math.pi * soft_edge_reach(sigma, 1e-4) ** 2 / 2


def test_z_order_of_overlapping_triangles(small_mesh):
    verts, faces = small_mesh
    colors = torch.tensor([[[1.0, 0, 0], [0, 0, 1.0], [0, 1.0, 0]]], dtype=torch.float64)
    frags = rasterize(verts, faces, 16, sigma=0.01)
    rgb = soft_blend(frags, flat_face_colors(colors), gamma=1e-4)[0]
    depth = soft_depth(frags)[0]
    hard = rasterize_hard(verts, faces, 16)
    both = torch.as_tensor(centres_inside(verts[0, :3, :2].numpy(), 16, 16)
                           & centres_inside(verts[0, 3:6, :2].numpy(), 16, 16))
    assert both.sum() > 5
    # face 0 is ≥ 0.05 m nearer: its weight beats face 1's by exp(0.05 / 1e-3)
    assert torch.all(rgb[both][:, 0] > 1 - 1e-6)
    assert torch.all((hard.face_map[0][both]) == 0)
    assert torch.all((depth[both] - 0.5).abs() < 0.03)
    # move face 1 in front: the overlap turns blue
    verts2 = verts.clone()
    verts2[0, 3:6, 2] -= 0.2
    rgb2 = soft_blend(rasterize(verts2, faces, 16, sigma=0.01), colors)[0]
    assert torch.all(rgb2[both][:, 2] > 1 - 1e-6)


def test_windows_do_not_change_the_image(small_mesh):
    verts, faces = small_mesh
    colors = torch.rand(1, 3, 3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    outs = []
    for windows in ((4, 6, 8, 12, 16), (2, 3), "dense", ()):
        frags = rasterize(verts, faces, (16, 18), windows=windows)
        outs.append(torch.cat([soft_silhouette(frags)[..., None], soft_blend(frags, colors),
                               soft_depth(frags)[..., None]], -1))
    for other in outs[1:]:
        torch.testing.assert_close(other, outs[0], rtol=0, atol=1e-12)


def test_clipped_face_matches_a_crop_of_a_larger_image():
    # a face half outside a 16 x 16 image equals the same face in a 40 x 40 image, cropped
    tri = np.array([[-6.3, 2.2], [11.7, 5.4], [3.1, 24.9]])
    faces = torch.tensor([[0, 1, 2]])
    colors = torch.tensor([[[[0.2], [0.5], [0.9]]]], dtype=torch.float64)
    small = rasterize(screen(tri, 0.5), faces, 16)
    big = rasterize(screen(tri + [12.0, 8.0], 0.5), faces, 40)
    torch.testing.assert_close(soft_silhouette(small)[0], soft_silhouette(big)[0, 8:24, 12:28])
    torch.testing.assert_close(soft_blend(small, colors)[0], soft_blend(big, colors)[0, 8:24, 12:28])


def test_faces_behind_the_camera_or_off_screen_are_not_drawn(small_mesh):
    verts, faces = small_mesh
    extra = screen([[4.0, 4.0], [12.0, 5.0], [6.0, 12.0],  # behind the near plane (one corner)
                    [40.0, 4.0], [52.0, 5.0], [46.0, 12.0],  # off-screen right
                    [3.0, -30.0], [9.0, -25.0], [5.0, -20.0]],  # off-screen above
                   [0.5, -0.2, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]).requires_grad_(True)
    all_verts = torch.cat([verts, extra], dim=1)
    all_faces = torch.cat([faces, torch.arange(9, 18).reshape(3, 3)])
    colors = torch.rand(1, 6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    ref = rasterize(verts, faces, 16)
    got = rasterize(all_verts, all_faces, 16)
    torch.testing.assert_close(soft_silhouette(got), soft_silhouette(ref))
    torch.testing.assert_close(soft_blend(got, colors), soft_blend(ref, colors[:, :3]))
    (soft_silhouette(got).sum() + soft_blend(got, colors).sum()).backward()
    assert torch.all(extra.grad == 0)


def test_zero_area_faces_have_finite_gradients():
    g = torch.Generator().manual_seed(2)
    uv = torch.rand(6, 2, generator=g, dtype=torch.float64) * 12 + 2
    uv[3] = uv[4] = uv[5] = torch.tensor([6.0, 7.0], dtype=torch.float64)  # a point
    uv = torch.cat([uv, (uv[:1] + uv[1:2]) / 2])  # vertex 6 on the segment 0-1: collinear face
    verts = screen(uv, torch.linspace(0.5, 0.6, 7, dtype=torch.float64)).requires_grad_(True)
    faces = torch.tensor([[0, 1, 2], [3, 4, 5], [0, 6, 1], [0, 1, 2]])
    colors = torch.rand(1, 7, 3, dtype=torch.float64, generator=g).requires_grad_(True)
    frags = rasterize(verts, faces, 16)
    loss = (soft_silhouette(frags).sum() + soft_blend(frags, vertex_colors(colors, faces)).sum()
            + soft_depth(frags).sum())
    hard = rasterize_hard(verts, faces, 16)
    loss = loss + hard.depth.sum() + hard.bary.sum()
    loss.backward()
    assert torch.isfinite(verts.grad).all() and torch.isfinite(colors.grad).all()
    assert verts.grad[0, :3].abs().sum() > 0


@pytest.mark.parametrize("perspective_correct", [True, False])
def test_gradients_match_finite_differences(small_mesh, perspective_correct):
    verts, faces = small_mesh
    g = torch.Generator().manual_seed(3)
    colors = torch.rand(1, 9, 2, dtype=torch.float64, generator=g)
    face_colors = torch.rand(1, 3, 2, dtype=torch.float64, generator=g)
    wsil, wrgb, wflat, wdep = (torch.rand(*s, dtype=torch.float64, generator=g)
                               for s in [(1, 16, 16), (1, 16, 16, 2), (1, 16, 16, 2), (1, 16, 16)])

    def loss(v, c, fc):
        frags = rasterize(v, faces, 16, sigma=0.7, perspective_correct=perspective_correct)
        return ((soft_silhouette(frags) * wsil).sum()
                + (soft_blend(frags, vertex_colors(c, faces), gamma=3e-3) * wrgb).sum()
                + (soft_blend(frags, flat_face_colors(fc), gamma=3e-3) * wflat).sum()
                + (soft_depth(frags, gamma=3e-3) * wdep).sum())

    inputs = (verts.clone().requires_grad_(True), colors.requires_grad_(True),
              face_colors.requires_grad_(True))
    assert torch.autograd.gradcheck(loss, inputs, eps=1e-6, atol=1e-5, rtol=1e-4)


def test_soft_tends_to_hard_as_sigma_shrinks(small_mesh):
    verts, faces = small_mesh
    hard = rasterize_hard(verts, faces, 16).mask[0].to(torch.float64)
    dist = torch.as_tensor(edge_distance_map(verts[0, :, :2].numpy(), 16, 16))
    errors = []
    for sigma in (1.0, 0.1, 0.01, 0.001):
        diff = (soft_silhouette(rasterize(verts, faces, 16, sigma=sigma))[0] - hard).abs()
        # beyond d_max of every edge, soft coverage is 0 outside and ≥ 1 − ε inside
        far = dist > soft_edge_reach(sigma, 1e-4)
        assert diff[far].max() <= 1e-4
        errors.append(diff.mean().item())
    assert all(a > b for a, b in zip(errors, errors[1:]))


def test_batch_equals_single_images(small_mesh):
    verts, faces = small_mesh
    batch = torch.cat([verts, verts + torch.tensor([1.5, -0.7, 0.05], dtype=torch.float64)])
    colors = torch.rand(2, 9, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    fb = rasterize(batch, faces, 16)
    both = soft_blend(fb, vertex_colors(colors, faces))
    for i in range(2):
        one = rasterize(batch[i:i + 1], faces, 16)
        torch.testing.assert_close(both[i:i + 1], soft_blend(one, vertex_colors(colors[i:i + 1], faces)))
        torch.testing.assert_close(soft_silhouette(fb)[i:i + 1], soft_silhouette(one))


def test_bad_inputs_name_the_argument(small_mesh):
    verts, faces = small_mesh
    with pytest.raises(ValueError, match="verts_px_z"):
        rasterize(verts[0], faces, 16)
    with pytest.raises(ValueError, match="faces"):
        rasterize(verts, faces + 100, 16)
    with pytest.raises(ValueError, match="sigma"):
        rasterize(verts, faces, 16, sigma=0.0)
    with pytest.raises(ValueError, match="attrs"):
        soft_blend(rasterize(verts, faces, 16), torch.zeros(2, 3, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="attributes=True"):
        soft_blend(rasterize(verts, faces, 16, attributes=False), torch.zeros(1, 3, 3))
