"""A mesh from 2D keypoints (infer/fit_mesh.py), right and left hands."""

import numpy as np
import pytest
import torch

from handkit.geometry.camera import flip_K, project
from handkit.hand.skeleton import mirror_uv
from handkit.infer.fit_mesh import mesh_from_keypoints
from handkit.models.s2hand import S2HandHand


@pytest.fixture(scope="module")
def right():
    """A known right hand's exact keypoints in a 224-px image."""
    hand = S2HandHand(None)
    g = torch.Generator().manual_seed(4)
    with torch.no_grad():
        geo = hand(torch.randn(1, 30, generator=g) * 0.6, torch.zeros(1, 10),
                   torch.randn(1, 3, generator=g) * 0.4)
    joints = geo.joints[0] + torch.tensor([0.01, 0.0, 0.55])
    K = np.array([[450.0, 0, 112], [0, 450.0, 112], [0, 0, 1]])
    return project(joints.double(), torch.as_tensor(K)).numpy(), K


def test_a_right_hand_is_recovered_in_2d_with_absolute_depth(right):
    uv, K = right
    fit = mesh_from_keypoints(uv, K, 224)
    assert fit.reprojection_px < 8 and fit.vertices.shape == (1214, 3)
    assert 0.3 < fit.joints[0, 2] < 1.0  # in front of the camera, meters


def test_a_left_hand_is_the_mirror_image_of_the_right_fit(right):
    uv, K = right
    fit_r = mesh_from_keypoints(uv, K, 224, iterations=40)
    uv_l = mirror_uv(uv, 224.0)  # the same hand seen in the mirrored image
    K_l = flip_K(torch.as_tensor(K), 224.0).numpy()
    fit_l = mesh_from_keypoints(uv_l, K_l, 224, hand="left", iterations=40)
    assert np.allclose(fit_l.vertices, fit_r.vertices * [-1, 1, 1], atol=1e-5)
    assert np.array_equal(fit_l.faces, fit_r.faces[:, ::-1])
    assert fit_l.reprojection_px == pytest.approx(fit_r.reprojection_px, abs=1e-3)


def test_missing_keypoints_do_not_count(right):
    uv, K = right
    uv = uv.copy()
    uv[4] = np.nan
    fit = mesh_from_keypoints(uv, K, 224, iterations=20)
    assert np.isfinite(fit.vertices).all() and np.isfinite(fit.reprojection_px)


def test_predict_fits_a_mesh_for_a_model_without_one(tmp_path):
    """`handkit predict --fit-mesh`: a keypoint model's 2D becomes a camera-frame mesh file."""
    import json

    import cv2

    from handkit.infer.predict import predict
    from handkit.models.checkpoint import shipped_checkpoint

    image = np.full((96, 96, 3), 90, np.uint8)
    cv2.circle(image, (48, 48), 20, (200, 160, 140), -1)
    cv2.imwrite(str(tmp_path / "hand.png"), image)
    run = predict(tmp_path / "hand.png", ckpt=shipped_checkpoint(), out_dir=tmp_path / "p",
                  box=(20, 20, 76, 76), fit_mesh=True, progress=False)
    assert len(run.results) == 1 and run.results[0].mesh_source == "fit"
    record = json.loads((tmp_path / "p" / "hand_png.json").read_text())
    assert record["mesh"]["source"].startswith("fitted") and record["mesh"]["frame"] == "camera"
    from handkit.utils.mesh_io import read_mesh

    verts, faces = read_mesh(tmp_path / "p" / record["mesh"]["file"])
    assert verts.shape == (1214, 3) and (verts[:, 2] > 0).all()  # in front of the camera
