import numpy as np
import pytest
import torch

from handkit.geometry.camera import (
    backproject,
    crop_resize_matrix,
    fit_translation,
    flip_K,
    pixel_rays,
    project,
    resize_matrix,
    transform_K,
    weak_perspective_project,
)
from handkit.hand.skeleton import mirror_uv, mirror_xyz

K_HAND = torch.tensor([[500.0, 0.0, 100.0], [0.0, 400.0, 50.0], [0.0, 0.0, 1.0]],
                      dtype=torch.float64)


def test_project_hand_derived():
    xyz = torch.tensor([[[0.1, -0.2, 2.0], [0.0, 0.0, 1.0]]], dtype=torch.float64)
    uv = project(xyz, K_HAND)
    # u = 500 * 0.1 / 2 + 100 = 125, v = 400 * -0.2 / 2 + 50 = 10; the optical axis hits (cx, cy).
    expected = torch.tensor([[[125.0, 10.0], [100.0, 50.0]]], dtype=torch.float64)
    torch.testing.assert_close(uv, expected)


def test_project_numpy_and_broadcast_K(hands):
    xyz = hands(4)
    K = K_HAND.expand(4, 3, 3)
    torch.testing.assert_close(project(xyz, K), project(xyz, K_HAND))
    torch.testing.assert_close(project(xyz.numpy(), K_HAND.numpy()), project(xyz, K_HAND))


def test_backproject_round_trip_per_sample_K(hands):
    xyz = hands(6)
    K = K_HAND.repeat(6, 1, 1)
    K[:, 0, 0] += torch.arange(6) * 10.0
    K[:, 0, 1] = 3.0  # skew is handled too
    uv = project(xyz, K)
    torch.testing.assert_close(backproject(uv, xyz[..., 2], K), xyz, rtol=0, atol=1e-12)
    rays = pixel_rays(uv, K)
    torch.testing.assert_close(rays[..., 2], torch.ones_like(rays[..., 2]))


def test_weak_perspective_hand_derived():
    xyz = torch.tensor([[[0.1, -0.2, 5.0]], [[0.0, 0.3, 1.0]]])
    uv = weak_perspective_project(xyz, torch.tensor([100.0, 10.0]), torch.tensor([[1.0, 2.0],
                                                                                 [0.0, 0.0]]))
    torch.testing.assert_close(uv, torch.tensor([[[11.0, -18.0]], [[0.0, 3.0]]]))
    uv2 = weak_perspective_project(xyz, torch.tensor([[100.0], [10.0]]), torch.zeros(2, 2))
    torch.testing.assert_close(uv2[1], torch.tensor([[0.0, 3.0]]))


def test_convention_crop_maps_pixel_centres():
    # Crop columns [10, 20) and rows [30, 50) to a 20 x 10 (h x w) image: scale 1 in x, 1 in y.
    T = crop_resize_matrix(torch.tensor([10.0, 30.0, 20.0, 50.0]), (20, 10))
    centre_of_col10_row30 = torch.tensor([10.5, 30.5, 1.0])
    torch.testing.assert_close(T @ centre_of_col10_row30, torch.tensor([0.5, 0.5, 1.0]))
    # Corners map to corners after a 2x upscale.
    T = crop_resize_matrix(torch.tensor([10.0, 30.0, 20.0, 50.0]), (40, 20))
    torch.testing.assert_close(T @ torch.tensor([20.0, 50.0, 1.0]), torch.tensor([20.0, 40.0, 1.0]))


def test_crop_resize_K_matches_transformed_pixels(hands):
    xyz = hands(3)
    box = torch.tensor([[20.0, 10.0, 180.0, 170.0], [-30.0, -40.0, 90.0, 80.0],
                        [50.0, 60.0, 60.0, 70.0]], dtype=torch.float64)
    T = crop_resize_matrix(box, 128)
    uv = project(xyz, K_HAND)
    uv_t = (torch.cat([uv, torch.ones_like(uv[..., :1])], -1) @ T.transpose(-1, -2))[..., :2]
    torch.testing.assert_close(project(xyz, transform_K(K_HAND, T)), uv_t)
    # A 160-px box to 128 px scales the focal length by 0.8 and moves the principal point.
    torch.testing.assert_close(transform_K(K_HAND, T)[0, 0, 0], torch.tensor(400.0).double())
    torch.testing.assert_close(transform_K(K_HAND, T)[0, 0, 2], torch.tensor(64.0).double())


def test_convention_resize_and_crop_principal_point():
    T = resize_matrix((224, 224), (112, 56), dtype=torch.float64)
    K = torch.tensor([[300.0, 0, 112.0], [0, 300.0, 112.0], [0, 0, 1]], dtype=torch.float64)
    # A centred principal point of a 224 image stays centred: W/2 of the 56-wide output.
    torch.testing.assert_close(transform_K(K, T)[:2, 2], torch.tensor([28.0, 56.0]).double())


def test_convention_flip_K_equals_mirrored_image(hands):
    xyz = hands(4)
    K = K_HAND.clone()
    K[0, 1] = 2.0
    width = 224.0
    flipped = project(mirror_xyz(xyz), flip_K(K, width))
    torch.testing.assert_close(flipped, mirror_uv(project(xyz, K), width))
    assert float(flip_K(K, width)[0, 0]) > 0


def test_empty_batch_gives_empty_output():
    assert project(torch.zeros(0, 21, 3), K_HAND.float()).shape == (0, 21, 2)
    assert backproject(torch.zeros(0, 21, 2), torch.zeros(0, 21), K_HAND.float()).shape == (0, 21, 3)


@pytest.mark.parametrize("call, message", [
    (lambda: project(torch.zeros(2, 21, 2), K_HAND), r"xyz: expected \(\.\.\., N, 3\)"),
    (lambda: project(torch.zeros(2, 21, 3), torch.zeros(2, 3, 4)), r"K: expected"),
    (lambda: backproject(torch.zeros(2, 21, 2), torch.zeros(2, 20), K_HAND), r"depth: expected"),
    (lambda: weak_perspective_project(torch.zeros(2, 5, 3), torch.ones(3), torch.zeros(2, 2)),
     r"scale: expected"),
    (lambda: weak_perspective_project(torch.zeros(2, 5, 3), torch.ones(2), torch.zeros(2, 3)),
     r"trans: expected"),
    (lambda: crop_resize_matrix(torch.tensor([10.0, 0.0, 5.0, 8.0]), 64), r"box: every box"),
    (lambda: crop_resize_matrix(torch.tensor([0.0, 0.0, 5.0]), 64), r"box: expected"),
    (lambda: project("abc", K_HAND), r"xyz: cannot be read"),
    (lambda: resize_matrix((0, 10), (5, 5)), r"in_size/out_size"),
])
def test_bad_input_names_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_numpy_input_accepted():
    uv = project(np.array([[[0.0, 0.0, 2.0]]]), K_HAND.numpy())
    assert isinstance(uv, torch.Tensor)
    torch.testing.assert_close(uv, torch.tensor([[[100.0, 50.0]]], dtype=torch.float64))


def test_inverse_3x3_matches_linalg_and_exports_to_onnx(tmp_path):
    import onnxruntime as ort

    from handkit.geometry.camera import inverse_3x3

    m = torch.randn(4, 3, 3, dtype=torch.float64) + 3 * torch.eye(3, dtype=torch.float64)
    torch.testing.assert_close(inverse_3x3(m), torch.linalg.inv(m))
    torch.testing.assert_close(inverse_3x3(m) @ m, torch.eye(3, dtype=torch.float64).expand(4, 3, 3))

    class Inv(torch.nn.Module):
        def forward(self, x):
            return inverse_3x3(x)

    path = tmp_path / "inv.onnx"
    k = m.float()
    torch.onnx.export(Inv(), (k,), str(path), dynamo=False)
    out = ort.InferenceSession(str(path)).run(None, {"x": k.numpy()})[0]
    torch.testing.assert_close(torch.from_numpy(out), torch.linalg.inv(k), rtol=1e-4, atol=1e-5)


def test_fit_translation_recovers_the_placement():
    g = torch.Generator().manual_seed(5)
    xyz = torch.randn(3, 21, 3, generator=g, dtype=torch.float64) * 0.04
    t = torch.tensor([[0.02, -0.01, 0.5], [-0.1, 0.05, 0.9], [0.0, 0.0, 0.3]],
                     dtype=torch.float64)
    K = K_HAND.clone()
    K[0, 1] = 3.0  # skew is part of the linear form
    uv = project(xyz + t[:, None], K)
    torch.testing.assert_close(fit_translation(xyz, uv, K), t, atol=1e-12, rtol=0)
    # invalid points are ignored: a wild pixel there changes nothing
    valid = torch.ones(3, 21, dtype=torch.bool)
    valid[:, 4] = False
    bad = uv.clone()
    bad[:, 4] += 80.0
    torch.testing.assert_close(fit_translation(xyz, bad, K, valid), t, atol=1e-12, rtol=0)
    # units: points in mm give t in mm (pixels are scale-free)
    torch.testing.assert_close(fit_translation(xyz * 1000, uv, K), t * 1000, atol=1e-9, rtol=0)
    with pytest.raises(ValueError, match="valid"):
        fit_translation(xyz, uv, K, torch.zeros(3, 21, dtype=torch.bool))
    with pytest.raises(ValueError, match="uv"):
        fit_translation(xyz, uv[:, :20], K)
