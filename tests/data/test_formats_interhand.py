import json

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from _format_fixtures import interhand_index as _ih_index, write_image, write_json
from handkit.data.formats import open_dataset
from handkit.data.formats.interhand import InterHand26M
from handkit.data.schema import SampleError

FOCAL, PRINCPT = [1200.0, 1100.0], [167.0, 256.0]


def make_interhand(root, rng=None):
    """digit.md §6 fixture: 4 frames (right, left, interacting with left wrist invalid, interacting)."""
    rng = rng or np.random.default_rng(0)
    R = Rotation.from_rotvec([0.3, -0.2, 0.5]).as_matrix()
    C = np.array([100.0, -50.0, 300.0])
    kinds = ["right", "left", "interacting", "interacting"]
    images, anns, joints, cams = [], [], {}, {}
    truth = {}
    for i, kind in enumerate(kinds):
        frame = 1000 + i
        cam_mm = np.zeros((42, 3))
        cam_mm[:, 0] = rng.uniform(-40, 40, 42)
        cam_mm[:, 1] = rng.uniform(-80, 80, 42)
        cam_mm[:, 2] = rng.uniform(700, 900, 42)
        valid = np.ones(42, int)
        if kind == "right":
            valid[21:] = 0
        if kind == "left":
            valid[:21] = 0
        if i == 2:
            valid[41] = 0  # left wrist invalid -> whole left hand invalid
        if i == 3:
            valid[5] = 0  # one invalid non-root joint
        world = cam_mm @ R + C  # R^T X + C, row vectors
        file_name = f"Capture0/0000_seq/cam400001/image{frame}.jpg"
        images.append({"id": 500 + i, "file_name": file_name, "width": 48, "height": 64,
                       "capture": 0, "seq_name": "0000_seq", "camera": "400001", "frame_idx": frame})
        anns.append({"id": 500 + i, "image_id": 500 + i, "bbox": [1, 2, 30, 40],
                     "joint_valid": [[int(v)] for v in valid], "hand_type": kind,
                     "hand_type_valid": 0 if i == 3 else 1})
        joints[str(frame)] = {"world_coord": world.tolist(), "joint_valid": valid.tolist(),
                              "hand_type": kind}
        write_image(root / "images" / "train" / file_name, (10 * i, 50, 60), size=(64, 48))
        truth[i] = (cam_mm / 1000.0, valid)
    cams["0"] = {"campos": {"400001": C.tolist()}, "camrot": {"400001": R.tolist()},
                 "focal": {"400001": FOCAL}, "princpt": {"400001": PRINCPT}}
    ann_dir = root / "annotations" / "train"
    write_json(ann_dir / "InterHand2.6M_train_data.json", {"images": images, "annotations": anns})
    write_json(ann_dir / "InterHand2.6M_train_camera.json", cams)
    write_json(ann_dir / "InterHand2.6M_train_joint_3d.json", {"0": joints})
    skeleton = ["# name id parent"]
    for side, base in (("r", 0), ("l", 21)):
        for f, finger in enumerate(["thumb", "index", "middle", "ring", "pinky"]):
            for k in range(4):
                idx = base + 4 * f + k
                parent = base + 20 if k == 3 else idx + 1
                skeleton.append(f"{side}_{finger}{4 - k} {idx} {parent}")
        skeleton.append(f"{side}_wrist {base + 20} -1")
    (root / "annotations" / "skeleton.txt").write_text("\n".join(skeleton) + "\n")
    return root, truth


@pytest.fixture
def ih(tmp_path):
    return make_interhand(tmp_path / "InterHand")


def test_world_to_camera_mm_to_m_and_order(ih):
    root, truth = ih
    ds = InterHand26M(root, "train")
    assert len(ds) == 4
    for i in range(4):
        s = ds[i]
        cam_m, valid = truth[i]
        assert s.keypoints_3d.shape == (2, 21, 3) and list(s.is_right) == [True, False]
        for hand, base in ((0, 0), (1, 21)):
            for j in range(21):
                np.testing.assert_allclose(s.keypoints_3d[hand, j], cam_m[base + _ih_index(j)], atol=1e-5)
        # projection by hand: u = fx X / Z + cx
        X = s.keypoints_3d[0, 4]
        assert s.keypoints_2d[0, 4, 0] == pytest.approx(FOCAL[0] * X[0] / X[2] + PRINCPT[0], abs=1e-3)
        assert s.keypoints_2d[0, 4, 1] == pytest.approx(FOCAL[1] * X[1] / X[2] + PRINCPT[1], abs=1e-3)
        np.testing.assert_allclose(s.K, [[1200, 0, 167], [0, 1100, 256], [0, 0, 1]])
        assert s.video_id == "Capture0/0000_seq/cam400001" and s.frame_id == 1000 + i
        assert s.sample_id == f"train/Capture0/0000_seq/cam400001/image{1000 + i}.jpg"
        assert s.image.shape == (64, 48, 3)


def test_validity_rules(ih):
    root, _ = ih
    ds = InterHand26M(root, "train")
    right, left, inter_bad_wrist, inter = (ds[i] for i in range(4))
    assert right.joint_valid[0].all() and not right.joint_valid[1].any()
    assert left.joint_valid[1].all() and not left.joint_valid[0].any()
    assert inter_bad_wrist.joint_valid[0].all() and not inter_bad_wrist.joint_valid[1].any()
    # IH 5 = r_index3 (the DIP): handkit index finger base->tip level 2 -> joint 1 + 4 + 2 = 7
    assert not inter.joint_valid[0, 7] and inter.joint_valid[0].sum() == 20 and inter.joint_valid[1].all()
    assert inter.extras["hand_type_valid"] is False and right.extras["hand_type"] == "right"


def test_hand_type_filter_and_registry(ih):
    root, _ = ih
    ds = open_dataset("interhand", root, "train", hand_types=["interacting"])
    assert len(ds) == 2 and ds[0].extras["hand_type"] == "interacting"
    with pytest.raises(ValueError, match="hand_types: unknown value 'both'"):
        InterHand26M(root, "train", hand_types=["both"])
    path = root / "annotations/train/InterHand2.6M_train_data.json"
    data = json.loads(path.read_text())
    data["annotations"][1]["hand_type"] = "two"
    path.write_text(json.dumps(data))
    with pytest.raises(SampleError, match=r"annotations\[image_id=501\]\.hand_type: expected one"):
        InterHand26M(root, "train")


def test_missing_and_malformed_files(ih):
    root, _ = ih
    cam = root / "annotations" / "train" / "InterHand2.6M_train_camera.json"
    text = cam.read_text()
    cam.write_text(text[:-3])
    with pytest.raises(SampleError, match=r"InterHand2\.6M_train_camera\.json: malformed JSON"):
        InterHand26M(root, "train")
    cam.unlink()
    with pytest.raises(FileNotFoundError, match=r"InterHand2\.6M_train_camera\.json: missing"):
        InterHand26M(root, "train")


def _edit_joints(root, fn):
    p = root / "annotations" / "train" / "InterHand2.6M_train_joint_3d.json"
    value = json.loads(p.read_text())
    fn(value)
    p.write_text(json.dumps(value))


def test_bad_labels_name_file_and_field(ih):
    root, _ = ih
    _edit_joints(root, lambda v: v["0"].pop("1001"))
    _edit_joints(root, lambda v: v["0"]["1002"]["world_coord"].pop())
    _edit_joints(root, lambda v: v["0"]["1003"]["world_coord"][0].__setitem__(0, float("nan")))
    ds = InterHand26M(root, "train")
    with pytest.raises(SampleError, match=r"joint_3d\.json: \['0'\]\['1001'\]: missing"):
        ds[1]
    with pytest.raises(SampleError, match=r"joint_3d\.json: \['0'\]\['1002'\]\.world_coord: expected \(42, 3\), got \(41, 3\)"):
        ds[2]
    with pytest.raises(SampleError, match=r"joint_3d\.json: \['0'\]\['1003'\]\.world_coord: contains NaN .* valid joint 0"):
        ds[3]


def test_nan_at_invalid_joint_is_tolerated(ih):
    root, _ = ih
    _edit_joints(root, lambda v: v["0"]["1000"]["world_coord"][30].__setitem__(0, float("nan")))
    s = InterHand26M(root, "train")[0]  # joint 30 belongs to the absent left hand
    assert np.isfinite(s.keypoints_3d).all()


def test_corrupt_image_and_bad_skeleton(ih):
    root, _ = ih
    (root / "images" / "train" / "Capture0/0000_seq/cam400001/image1000.jpg").write_bytes(b"\xff\xd8junk")
    with pytest.raises(SampleError, match=r"image1000\.jpg: image: cannot decode"):
        InterHand26M(root, "train")[0]
    (root / "annotations" / "skeleton.txt").write_text("r_wrist 0 -1\n")
    with pytest.raises(SampleError, match=r"skeleton\.txt: joint 0: expected 'r_thumb4'"):
        InterHand26M(root, "train")


def test_part_masks_are_read_in_handkit_encoding_and_checked(ih):
    import cv2

    root, _ = ih
    seg_dir = root / "segm_32" / "train" / "Capture0/0000_seq/cam400001"
    seg_dir.mkdir(parents=True)
    digit = np.zeros((64, 48), np.uint8)
    digit[10, 10], digit[20, 20] = 9, 25  # DIGIT right palm (8 + 1), left palm (8 + 17)
    cv2.imwrite(str(seg_dir / "image1000.png"), digit)
    cv2.imwrite(str(seg_dir / "image1001.png"), np.dstack([digit] * 3))  # the LMDB's 3 copies
    ds = InterHand26M(root, "train")
    for k in (0, 1):
        s = ds[k]
        assert s.part_seg[10, 10] == 1 and s.part_seg[20, 20] == 17  # handkit palm = part 0
        assert s.mask.sum() == 2
    assert ds[2].part_seg is None and ds[2].mask is None  # no file: no mask (segm_valid 0)
    bad = np.dstack([digit, digit, digit * 0])
    cv2.imwrite(str(seg_dir / "image1002.png"), bad)
    with pytest.raises(SampleError, match=r"image1002\.png: part mask: its 3 channels differ"):
        ds[2]
    cv2.imwrite(str(seg_dir / "image1003.png"), digit + 40)
    with pytest.raises(SampleError, match=r"image1003\.png: part mask: class id 65 >= 33"):
        ds[3]


def test_missing_camera_entries_name_file_and_field(ih):
    root, _ = ih
    path = root / "annotations" / "train" / "InterHand2.6M_train_camera.json"
    cams = json.loads(path.read_text())
    cams["0"]["focal"].pop("400001")  # the camera of every frame loses its focal length
    path.write_text(json.dumps(cams))
    ds = InterHand26M(root, "train")  # the annotations open; the frame that needs it fails
    with pytest.raises(SampleError, match=r"camera\.json: \['0'\]\.focal\['400001'\]: missing"):
        ds[0]
    path.write_text(json.dumps({"1": cams["0"]}))  # no capture 0 at all
    with pytest.raises(SampleError, match=r"camera\.json: \['0'\]: missing"):
        InterHand26M(root, "train")[1]
