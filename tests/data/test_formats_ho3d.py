import os
import pickle

import numpy as np
import pytest

from _format_fixtures import K_SIMPLE, line_hand, write_image
from handkit.data.formats import open_dataset
from handkit.data.formats._io import read_pickle_restricted
from handkit.data.formats.ho3d import HO3D
from handkit.data.schema import SampleError


def _write_pickle(path, value, *, old_numpy_names=True):
    path.parent.mkdir(parents=True, exist_ok=True)
    data = pickle.dumps(value, protocol=2)
    if old_numpy_names:  # what numpy 1.x / Python 2 wrote
        data = data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    path.write_bytes(data)


def make_ho3d(root, ext=".png"):
    """Two train frames of sequence ABF10, one evaluation frame of SM1, OpenGL frame labels."""
    gl = line_hand() * np.array([1, -1, -1])  # OpenGL: y up, z toward the viewer
    for frame in ("0000", "0001"):
        write_image(root / "train" / "ABF10" / "rgb" / f"{frame}{ext}", (5, 6, 7))
        _write_pickle(root / "train" / "ABF10" / "meta" / f"{frame}.pkl", {
            "camMat": np.array(K_SIMPLE), "handJoints3D": gl.copy(), "handPose": np.zeros(48),
            "handBeta": np.zeros(10), "handTrans": np.array([0.0, 0.0, -0.5]), "objName": "mug"})
    (root / "train.txt").write_text("ABF10/0000\nABF10/0001\n")
    write_image(root / "evaluation" / "SM1" / "rgb" / f"0007{ext}", (1, 2, 3))
    _write_pickle(root / "evaluation" / "SM1" / "meta" / "0007.pkl", {
        "camMat": np.array(K_SIMPLE), "handJoints3D": np.array([0.0, 0.1, -0.6]),
        "handBoundingBox": np.array([3.0, 4.0, 20.0, 25.0]), "handPose": None})
    (root / "evaluation.txt").write_text("SM1/0007\n")
    return root


def test_train_flip_and_order(tmp_path):
    root = make_ho3d(tmp_path / "HO3D_v2")
    ds = HO3D(root, "train")
    assert len(ds) == 2 and ds.version == "v2"
    s = ds[1]
    xyz_mano = line_hand()  # in handkit's frame after the flip
    # handkit joint 4 (thumb tip) is MANO-order row 16; joint 1 (thumb base) is row 13; joint 5 is row 1
    for handkit_j, mano_row in ((0, 0), (1, 13), (4, 16), (5, 1), (8, 17), (17, 7), (20, 20)):
        np.testing.assert_allclose(s.keypoints_3d[0, handkit_j], xyz_mano[mano_row], atol=1e-6)
    assert (s.keypoints_3d[0, :, 2] > 0).all()
    # u = 100 x / 0.5 + 16 = 2·(mano row) + 16 ; v = 100·0.02/0.5 + 16 = 20
    assert s.keypoints_2d[0, 4, 0] == pytest.approx(2 * 16 + 16) and s.keypoints_2d[0, 4, 1] == pytest.approx(20)
    assert s.video_id == "ABF10" and s.frame_id == 1 and s.sample_id == "train/ABF10/rgb/0001.png"
    assert s.extras["mano"].shape == (61,) and s.extras["mano"][-1] == pytest.approx(-0.5)


def test_evaluation_root_and_bbox_v3(tmp_path):
    root = make_ho3d(tmp_path / "HO3D_v3", ext=".jpg")
    s = open_dataset("ho3d", root, "evaluation")[0]
    assert not s.joint_valid.any() and s.keypoints_3d is None
    np.testing.assert_allclose(s.extras["root_3d"], [0.0, -0.1, 0.6], atol=1e-6)
    np.testing.assert_allclose(s.extras["bbox"], [3, 4, 20, 25])
    assert "mano" not in s.extras and s.sample_id == "evaluation/SM1/rgb/0007.jpg"


def test_restricted_unpickler_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"camMat": Evil()}, protocol=2))
    with pytest.raises(SampleError, match=r"evil\.pkl: HO3D meta: unreadable pickle \(refusing global (posix|os)\.system"):
        read_pickle_restricted(path, "HO3D meta")
    assert not (tmp_path / "pwned").exists()


def test_bad_meta_names_file_and_field(tmp_path):
    root = make_ho3d(tmp_path / "HO3D_v2")
    meta = root / "train" / "ABF10" / "meta"
    _write_pickle(meta / "0000.pkl", {"camMat": np.eye(3), "handJoints3D": np.zeros((20, 3))})
    _write_pickle(meta / "0001.pkl", {"handJoints3D": np.zeros((21, 3))})
    ds = HO3D(root, "train")
    with pytest.raises(SampleError, match=r"0000\.pkl: handJoints3D: expected \(21, 3\), got \(20, 3\)"):
        ds[0]
    with pytest.raises(SampleError, match=r"0001\.pkl: camMat: missing"):
        ds[1]
    (meta / "0001.pkl").write_bytes(b"\x80\x02garbage")
    with pytest.raises(SampleError, match=r"0001\.pkl: HO3D meta: unreadable pickle"):
        ds[1]
    (meta / "0001.pkl").unlink()
    with pytest.raises(FileNotFoundError, match=r"0001\.pkl: missing \(HO3D meta\)"):
        ds[1]
    (root / "train.txt").write_text("ABF10-0000\n")
    with pytest.raises(SampleError, match=r"train\.txt: line 1: expected '<seq>/<frame>'"):
        HO3D(root, "train")
