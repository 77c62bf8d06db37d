import json

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from _format_fixtures import interhand_index, write_image, write_json
from handkit.data.formats import open_dataset
from handkit.data.formats.assemblyhands import AssemblyHands
from handkit.data.schema import SampleError

CAM = "HMC_21176875"


def make_ah(root, rng):
    R = Rotation.from_rotvec([0.1, 0.4, -0.2]).as_matrix()
    t = np.array([20.0, -30.0, 500.0])
    K = [[300.0, 0, 64], [0, 300.0, 48], [0, 0, 1]]
    images, anns, world_all, extr, truth = [], [], {}, {}, {}
    for i, frame in enumerate((12, 13)):
        cam_mm = np.c_[rng.uniform(-50, 50, (42, 2)), rng.uniform(400, 600, 42)]
        world = (cam_mm - t) @ R  # R^T (X_cam - t)
        valid = np.ones(42, int)
        if i == 1:
            valid[21:] = 0
        fname = f"ego_images_rectified/val/nusar-seq1/{CAM}/{frame:06d}.jpg"
        images.append({"id": 7 + i, "seq_name": "nusar-seq1", "camera": CAM, "frame_idx": frame,
                       "file_name": fname, "width": 128, "height": 96})
        anns.append({"id": 7 + i, "image_id": 7 + i, "joint_valid": valid.tolist(),
                     "bbox": {"right": [1, 2, 30, 40], "left": None if i else [5, 6, 7, 8]}})
        world_all[f"{frame:06d}"] = {"world_coord": world.tolist()}
        extr[f"{frame:06d}"] = {f"{CAM}_mono10bit": np.c_[R, t].tolist()}
        write_image(root / "images" / fname, (80, 80, 80), size=(96, 128))
        truth[i] = cam_mm / 1000
    d = root / "annotations" / "val"
    write_json(d / "assemblyhands_val_ego_data_v1-1.json", {"images": images, "annotations": anns})
    write_json(d / "assemblyhands_val_ego_calib_v1-1.json", {"calibration": {"nusar-seq1": {
        "intrinsics": {f"{CAM}_mono10bit": K}, "extrinsics": extr}}})
    write_json(d / "assemblyhands_val_joint_3d_v1-1.json", {"annotations": {"nusar-seq1": world_all}})
    return truth


def test_extrinsics_units_order_and_validity(tmp_path):
    truth = make_ah(tmp_path, np.random.default_rng(0))
    ds = open_dataset("assemblyhands", tmp_path, "val")
    assert len(ds) == 2
    s = ds[0]
    for hand, base in ((0, 0), (1, 21)):
        for j in range(21):
            np.testing.assert_allclose(s.keypoints_3d[hand, j], truth[0][base + interhand_index(j)], atol=1e-5)
    X = s.keypoints_3d[1, 0]
    assert s.keypoints_2d[1, 0, 0] == pytest.approx(300 * X[0] / X[2] + 64, abs=1e-3)
    assert s.joint_valid.all() and list(s.is_right) == [True, False]
    np.testing.assert_allclose(s.extras["bbox"], [[1, 2, 30, 40], [5, 6, 7, 8]])
    s1 = ds[1]
    assert s1.joint_valid[0].all() and not s1.joint_valid[1].any() and np.isnan(s1.extras["bbox"][1]).all()
    assert s1.video_id == f"nusar-seq1/{CAM}" and s1.frame_id == 13 and s1.image.shape == (96, 128, 3)


def test_bad_inputs_name_file_and_field(tmp_path):
    make_ah(tmp_path, np.random.default_rng(1))
    d = tmp_path / "annotations" / "val"
    p = d / "assemblyhands_val_ego_calib_v1-1.json"
    calib = json.loads(p.read_text())
    calib["calibration"]["nusar-seq1"]["extrinsics"]["000013"][f"{CAM}_mono10bit"] = [[1, 0, 0]]
    del calib["calibration"]["nusar-seq1"]["extrinsics"]["000012"]
    p.write_text(json.dumps(calib))
    ds = AssemblyHands(tmp_path, "val")
    with pytest.raises(SampleError, match=r"calib_v1-1\.json: calibration\['nusar-seq1'\]\.extrinsics\['000012'\]"):
        ds[0]
    with pytest.raises(SampleError, match=r"calib_v1-1\.json: calibration\['nusar-seq1'\]\.extrinsics\['000013'\]\['HMC_21176875'\]: expected \(3, 4\), got \(1, 3\)"):
        ds[1]
    (d / "assemblyhands_val_joint_3d_v1-1.json").write_text("{")
    with pytest.raises(SampleError, match=r"joint_3d_v1-1\.json: malformed JSON"):
        AssemblyHands(tmp_path, "val")
    with pytest.raises(FileNotFoundError, match=r"assemblyhands_val_exo_data_v1-1\.json: missing"):
        AssemblyHands(tmp_path, "val", modality="exo")
