import numpy as np
import torch

from handkit.data.synth.renderer import joint_visibility, rasterize, vertex_normals
from handkit.hand.openhand import OpenHand

K = np.array([[100.0, 0, 16], [0, 100.0, 16], [0, 0, 1]])


def test_single_triangle_coverage_and_depth():
    # a fronto-parallel triangle at z = 2 covering pixel centres with u + v <= ... (hand-derived)
    z = 2.0
    uv = np.array([[4.0, 4.0], [4.0, 20.0], [20.0, 4.0]])  # y-down image: this order faces the camera
    verts = np.concatenate([(uv - 16) / 100 * z, np.full((3, 1), z)], 1)
    frags = rasterize(verts, np.array([[0, 1, 2]]), K, 32, 32)
    cols, rows = np.meshgrid(np.arange(32) + 0.5, np.arange(32) + 0.5)
    expected = (cols >= 4) & (rows >= 4) & (cols + rows <= 24)
    assert np.array_equal(frags.face_map == 0, expected)
    assert np.allclose(frags.depth[expected], z)
    assert np.all(frags.depth[~expected] == 0)
    # the same triangle seen from behind is culled
    back = rasterize(verts, np.array([[0, 2, 1]]), K, 32, 32)
    assert np.all(back.face_map == -1)


def test_nearer_triangle_wins_and_depth_is_perspective_correct():
    tri = np.array([[-0.1, -0.1, 0], [-0.1, 0.1, 0], [0.1, -0.1, 0]])
    near, far = tri + [0, 0, 1.0], tri * 0.5 + [0, 0, 2.0]  # far projects strictly inside
    frags = rasterize(np.concatenate([far, near]), np.array([[0, 1, 2], [3, 4, 5]]), K, 32, 32)
    covered = frags.face_map >= 0
    assert np.all(frags.face_map[covered] == 1) and np.allclose(frags.depth[covered], 1.0)
    # a slanted plane: the interpolated depth is the ray/plane intersection
    slanted = np.array([[-0.2, -0.2, 1.0], [-0.2, 0.2, 1.0], [0.2, -0.2, 1.4]])
    fr = rasterize(slanted, np.array([[0, 1, 2]]), K, 32, 32)
    n = np.cross(slanted[1] - slanted[0], slanted[2] - slanted[0])
    rows, cols = np.nonzero(fr.face_map == 0)
    rays = np.stack([(cols + 0.5 - 16) / 100, (rows + 0.5 - 16) / 100, np.ones_like(cols, float)], 1)
    t = (slanted[0] @ n) / (rays @ n)
    assert np.allclose(fr.depth[rows, cols], t, atol=1e-5)


def test_backface_culling_is_exact_for_the_closed_hand():
    model = OpenHand()
    out = model(torch.tensor([[0.3, 2.0, 0.5]]), torch.zeros(1, 15, 3),
                transl=torch.tensor([[0.0, 0.0, 0.5]]))
    v, f = out.vertices[0].double().numpy(), out.faces.numpy()
    k = np.array([[300.0, 0, 64], [0, 300.0, 64], [0, 0, 1]])
    a, b = rasterize(v, f, k, 128, 128), rasterize(v, f, k, 128, 128, cull_backfaces=False)
    assert np.array_equal(a.face_map >= 0, b.face_map >= 0)
    assert np.allclose(a.depth, b.depth, atol=1e-6)
    n = vertex_normals(v, f)
    assert np.allclose(np.linalg.norm(n, axis=1), 1, atol=1e-5)


def test_joint_visibility_hand_derived():
    depth = np.zeros((8, 8), np.float32)
    depth[:, :4] = 1.0
    mask = depth > 0
    joints = np.array([[-0.05, 0, 1.005], [-0.05, 0, 1.5], [0.05, 0, 1.0], [1.0, 0, 1.0]])
    k = np.array([[40.0, 0, 4], [0, 40.0, 4], [0, 0, 1]])
    uv, visible = joint_visibility(joints, k, depth, mask, tolerance=0.02)
    assert np.allclose(uv[0], [4 - 40 * 0.05 / 1.005, 4.0])
    # just behind the surface: seen; far behind: hidden; off the mask: hidden; outside: hidden
    assert visible.tolist() == [True, False, False, False]
