import numpy as np
import pytest
import yaml

from _format_fixtures import line_hand, write_image
from handkit.data.formats import open_dataset
from handkit.data.formats.dexycb import DexYCB
from handkit.data.schema import SampleError

SUBJECTS = ["20200709-subject-01", "20200813-subject-02", "20200820-subject-03"]
SERIALS = ["836212060125", "839512060362"]
FRAMES = 2


def make_dexycb(root):
    """3 subjects × 5 captures × 2 cameras × 2 frames; files only for subject 0, capture 0."""
    for s, subject in enumerate(SUBJECTS):
        for q in range(5):
            cap = root / subject / f"2020070{q}_1400{s}"
            side = "left" if (s, q) == (0, 1) else "right"
            for serial in SERIALS:
                (cap / serial).mkdir(parents=True, exist_ok=True)
            cap.joinpath("meta.yml").write_text(yaml.safe_dump(
                {"num_frames": FRAMES, "mano_sides": [side], "ycb_ids": [1], "mano_calib": ["x"]}))
    cap = root / SUBJECTS[0] / "20200700_14000"
    for serial in SERIALS:
        for f in range(FRAMES):
            write_image(cap / serial / f"color_{f:06d}.jpg", (50, 60, 70), size=(48, 64))
            xyz = line_hand()[None] if f == 0 else -np.ones((1, 21, 3))
            uv = np.full((1, 21, 2), 7.5) if f == 0 else -np.ones((1, 21, 2))
            seg = np.zeros((48, 64), np.uint8)
            seg[:10, :20] = 255
            seg[30:, :] = 3  # an object
            np.savez(cap / serial / f"labels_{f:06d}.npz", joint_3d=xyz, joint_2d=uv, seg=seg)
    intr = root / "calibration" / "intrinsics"
    intr.mkdir(parents=True)
    for serial in SERIALS:
        (intr / f"{serial}_640x480.yml").write_text(yaml.safe_dump(
            {"color": {"fx": 600.0, "fy": 610.0, "ppx": 320.0, "ppy": 240.0}}))
    return root


@pytest.mark.parametrize("setup,split,expected", [
    ("s1", "train", 3 * 5 * 2 * FRAMES), ("s1", "val", 0),
    ("s0", "train", 3 * 4 * 2 * FRAMES), ("s0", "val", 2 * 1 * 2 * FRAMES), ("s0", "test", 1 * 2 * FRAMES),
    ("s2", "train", 3 * 5 * 2 * FRAMES), ("s2", "test", 0),
])
def test_setups_select_by_sorted_index(tmp_path, setup, split, expected):
    assert len(DexYCB(make_dexycb(tmp_path), split, setup=setup)) == expected


def test_sample_fields(tmp_path):
    ds = open_dataset("dexycb", make_dexycb(tmp_path), "train", setup="s1")
    # index order: subject, capture, serial, frame
    s = ds[0]
    assert s.sample_id == f"{SUBJECTS[0]}/20200700_14000/{SERIALS[0]}/color_000000.jpg"
    np.testing.assert_allclose(s.keypoints_3d[0], line_hand(), atol=1e-6)
    np.testing.assert_allclose(s.keypoints_2d, 7.5)
    np.testing.assert_allclose(s.K, [[600, 0, 320], [0, 610, 240], [0, 0, 1]])
    assert s.joint_valid.all() and s.is_right[0] and s.frame_id == 0
    assert s.mask[:10, :20].all() and s.mask.sum() == 200  # 255 = hand; the object (3) is not
    assert s.video_id == f"{SUBJECTS[0]}/20200700_14000/{SERIALS[0]}"
    empty = ds[1]  # labels all -1: no hand in this frame
    assert not empty.joint_valid.any() and (empty.keypoints_3d == 0).all()
    assert ds[2].sample_id.endswith(f"{SERIALS[1]}/color_000000.jpg")
    assert ds._locate(2 * FRAMES - 1)[1:] == (SERIALS[1], True, 1)
    assert ds._locate(2 * FRAMES)[2] is False  # first frame of capture 1 (left hand)


def test_bad_labels_name_file_and_field(tmp_path):
    root = make_dexycb(tmp_path)
    folder = root / SUBJECTS[0] / "20200700_14000" / SERIALS[0]
    np.savez(folder / "labels_000000.npz", joint_2d=np.zeros((1, 21, 2)))
    np.savez(folder / "labels_000001.npz", joint_3d=np.zeros((1, 20, 3)), joint_2d=np.zeros((1, 21, 2)))
    ds = DexYCB(root, "train")
    with pytest.raises(SampleError, match=r"labels_000000\.npz: joint_3d: missing"):
        ds[0]
    with pytest.raises(SampleError, match=r"labels_000001\.npz: joint_3d: expected \(1, 21, 3\), got \(1, 20, 3\)"):
        ds[1]
    (folder / "labels_000001.npz").write_bytes(b"PK\x03\x04broken")
    with pytest.raises(SampleError, match=r"labels_000001\.npz: labels: unreadable npz"):
        ds[1]
    (root / "calibration" / "intrinsics" / f"{SERIALS[1]}_640x480.yml").unlink()
    with pytest.raises(FileNotFoundError, match=r"839512060362_640x480\.yml: missing \(DexYCB camera intrinsics\)"):
        ds[2]
    meta = root / SUBJECTS[1] / "20200700_14001" / "meta.yml"
    meta.write_text(yaml.safe_dump({"num_frames": 2, "mano_sides": ["both"]}))
    with pytest.raises(ValueError, match=r"meta\.yml: mano_sides\[0\]: unknown value 'both'"):
        DexYCB(root, "train")
    meta.write_text("num_frames: [1,\n")
    with pytest.raises(SampleError, match=r"meta\.yml: malformed YAML"):
        DexYCB(root, "train")
