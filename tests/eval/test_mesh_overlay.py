"""The z-sorted painter with Lambert shading: occlusion, shading, blending, pixel convention."""
import math

import cv2
import numpy as np
import pytest

from handkit.eval.plots import ImageMesh, draw_mesh_overlay, overlay_gallery

K = np.array([[100.0, 0, 16], [0, 100.0, 16], [0, 0, 1]])
BLACK = np.zeros((32, 32, 3), np.uint8)


def _project(xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    uvw = xyz @ K.T
    return uvw[:, :2] / uvw[:, 2:], xyz[:, 2]


def test_front_face_occludes_back_face_whatever_the_face_order():
    uv = np.array([[2, 2], [30, 2], [16, 30],  # back: big, depth 2
                   [10, 10], [22, 10], [16, 22]], float)  # front: small, depth 1
    depth = np.array([2.0] * 3 + [1.0] * 3)
    red, blue = (255, 0, 0), (0, 0, 255)
    for faces, colors in (([[3, 4, 5], [0, 1, 2]], [red, blue]),
                          ([[0, 1, 2], [3, 4, 5]], [blue, red])):
        out = draw_mesh_overlay(BLACK, uv, depth, np.array(faces), face_colors=colors,
                                alpha=1.0, ambient=1.0)
        assert out[15, 16].tolist() == list(red)  # row 15: inside both triangles
        assert out[5, 16].tolist() == list(blue)  # inside the back one only
        assert out[1, 1].tolist() == [0, 0, 0]  # outside both
    assert not BLACK.any()  # the input image is left alone


def test_lambert_shading_brighter_for_the_face_facing_the_light():
    # Face A in the plane z = 1 (normal ±z); face B tilted by 60° about y: normal
    # (sin 60°, 0, cos 60°). Light from the camera (0, 0, −1): |n·l| = 1 and 0.5.
    tilt = math.radians(60)
    u, v = np.array([math.cos(tilt), 0, -math.sin(tilt)]), np.array([0, 1.0, 0])
    a = np.array([[-0.12, -0.05, 1], [-0.02, -0.05, 1], [-0.07, 0.08, 1]])
    centre = np.array([0.07, 0, 1])
    b = np.stack([centre - 0.05 * u - 0.05 * v, centre + 0.05 * u - 0.05 * v,
                  centre + 0.08 * v])
    uv, depth = _project(np.concatenate([a, b]))
    out = draw_mesh_overlay(BLACK, uv, depth, np.array([[0, 1, 2], [3, 4, 5]]), K=K,
                            color=(200, 200, 200), alpha=1.0, ambient=0.0,
                            light_dir=(0, 0, -1))
    ua, ub = uv[:3].mean(0), uv[3:].mean(0)  # centroids: well inside each projected face
    assert out[int(ua[1]), int(ua[0])].tolist() == [200] * 3
    assert out[int(ub[1]), int(ub[0])].tolist() == [100] * 3
    # Without K the tilted face's normal is approximate, the fronto-parallel one's is not.
    guess = draw_mesh_overlay(BLACK, uv, depth, np.array([[0, 1, 2]]), color=(200, 200, 200),
                              alpha=1.0, ambient=0.0, light_dir=(0, 0, -1))
    assert guess[int(ua[1]), int(ua[0])].tolist() == [200] * 3


def test_alpha_blends_only_covered_pixels_and_pixel_convention():
    grey = np.full((32, 32, 3), 100, np.uint8)
    uv = np.array([[8, 8], [24, 8], [24, 24], [8, 24]], float)  # handkit px: columns 8..23
    out = draw_mesh_overlay(grey, uv, np.ones(4), np.array([[0, 1, 2], [0, 2, 3]]),
                            color=(200, 200, 200), alpha=0.5, ambient=1.0)
    covered = (out[..., 0] != 100)
    expect = np.zeros((32, 32), bool)
    expect[8:24, 8:24] = True
    np.testing.assert_array_equal(covered, expect)
    assert out[16, 16].tolist() == [150] * 3


def test_faces_behind_the_camera_are_skipped():
    uv = np.array([[2, 2], [30, 2], [16, 30]], float)
    out = draw_mesh_overlay(BLACK, uv, np.array([1.0, -0.5, 1.0]), np.array([[0, 1, 2]]))
    assert not out.any()


def test_gallery_draws_meshes(tmp_path):
    uv = np.array([[4, 4], [60, 4], [32, 60]], float)
    mesh = ImageMesh(uv, np.ones(3), np.array([[0, 1, 2]]))
    images = [np.zeros((64, 64, 3), np.uint8)] * 2
    kp = [np.full((21, 2), 32.0)] * 2
    path = overlay_gallery(images, kp, None, tmp_path / "g.png", meshes=[mesh, None])
    png = cv2.imread(str(path))[..., ::-1]
    assert (png[..., 2] > 150).sum() > 100  # the light-blue mesh is in the figure
    with pytest.raises(ValueError, match=r"meshes: expected one entry \(or None\) per image, 2, got 1"):
        overlay_gallery(images, kp, None, tmp_path / "h.png", meshes=[mesh])


@pytest.mark.parametrize("kwargs, message", [
    ({"depth": np.ones(4)}, r"depth: expected \(3\), got \(4,\)"),
    ({"faces": np.array([[0, 1, 3]])}, r"faces: expected integer vertex ids in \[0, 3\)"),
    ({"alpha": 0.0}, r"alpha: must be in \(0, 1\]"),
    ({"image": np.zeros((8, 8, 3))}, r"image: expected uint8"),
    ({"face_colors": np.zeros((2, 3))}, r"face_colors: expected \(1, 3\)"),
])
def test_bad_input_names_the_argument(kwargs, message):
    args = {"image": BLACK, "verts_px": np.zeros((3, 2)), "depth": np.ones(3),
            "faces": np.array([[0, 1, 2]])}
    extra = {k: kwargs.pop(k) for k in list(kwargs) if k not in args}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        draw_mesh_overlay(args["image"], args["verts_px"], args["depth"], args["faces"], **extra)


def _painter_loop(tri: np.ndarray, h: int, w: int) -> np.ndarray:
    """Slow reference: draw the triangles one by one (later ones over earlier ones), testing
    every pixel centre against the three edges (same sign as the triangle's area)."""
    py, px = np.mgrid[0:h, 0:w] + 0.5
    top = np.full((h, w), -1)
    for k, (a, b, c) in enumerate(tri):
        area = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
        if area == 0:
            continue
        inside = np.ones((h, w), bool)
        for p, q in ((a, b), (b, c), (c, a)):
            inside &= np.sign(area) * ((q[0] - p[0]) * (py - p[1]) - (q[1] - p[1]) * (px - p[0])) >= 0
        top[inside] = k
    return top


@pytest.mark.parametrize("max_pairs", [1 << 22, 7])
def test_vectorised_painter_matches_drawing_one_by_one(max_pairs):
    from handkit.eval.plots import _paint_order

    rng = np.random.default_rng(0)
    tri = rng.uniform(-4, 36, (60, 3, 2))  # overlapping, partly outside, both windings
    tri[5] = [[1, 1], [9, 9], [17, 17]]  # degenerate: never drawn
    np.testing.assert_array_equal(_paint_order(tri, 32, 30, max_pairs=max_pairs),
                                  _painter_loop(tri, 32, 30))
