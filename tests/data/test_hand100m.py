import json

import cv2
import numpy as np
import pytest

from handkit.data.formats.hand100m import (
    Hand100MDataset, Hand100MPairDataset, crop_and_resize, crop_window, read_annotations,
    write_annotations)


def _kp(u=0.25, v=0.25):
    kp = np.full((21, 3), 0.5)
    kp[0] = (u, v, 0.0)
    return kp


def _pool(root, *, n=3, positives=True):
    """n 100x100 frames, each with a white 9x9 square at pixels [23, 32); box -> window 5..95."""
    (root / "frames").mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    for i in range(n):
        img = np.zeros((100, 100, 3), np.uint8)
        img[23:32, 23:32] = 255
        img[0:5, :, 2] = 200 + i  # red-channel tag (BGR) outside the crop: ignored
        cv2.imwrite(str(root / "frames" / f"{i}.png"), img)
        images.append({"id": i, "file_name": f"frames/{i}.png", "width": 100, "height": 100,
                       "video_id": f"v{i}", "frame_id": 30 * i})
        anns.append({"hand_id": str(10 + i), "image_id": i, "boxes": [15, 15, 85, 85],
                     "keypoint_25d": _kp(), "left_right": "Left" if i == 1 else "Right",
                     "positive_sample": [str(10 + (i + 1) % n)] if positives else [],
                     "distance": [0.5 + i] if positives else []})
    return images, anns


def test_crop_window_hand_derived():
    # w = h = 40; int(52) - 40 = 12 -> each side moves 6; centre (30, 40); half 26.
    assert crop_window([10.7, 20.2, 50.9, 60.1], 1.3, 200, 200) == (4, 14, 56, 66)
    # Near the border: clamped, not padded, so the window is not square.
    assert crop_window([0, 10, 40, 50], 1.3, 100, 100) == (0, 4, 46, 56)
    img = np.zeros((100, 100, 3), np.uint8)
    assert crop_and_resize(img, [0, 10, 40, 50]).shape == (224, 224, 3)
    with pytest.raises(ValueError, match="empty crop"):
        crop_and_resize(img, [200, 200, 240, 240])


def test_writer_reader_round_trip(tmp_path):
    images, anns = _pool(tmp_path)
    out = write_annotations(tmp_path / "a.json", images, anns)
    raw = json.loads(out.read_text())
    assert isinstance(raw["annotations"][0]["boxes"], str)  # a JSON-encoded STRING
    assert json.loads(raw["annotations"][0]["boxes"]) == [15, 15, 85, 85]
    ann = read_annotations(out)
    assert ann.hand_ids == ["10", "11", "12"]
    np.testing.assert_allclose(ann.keypoints[2], _kp())
    assert ann.is_right.tolist() == [True, False, True]
    assert ann.positives == [["11"], ["12"], ["10"]] and ann.distances[2] == [2.5]
    assert ann.video_ids() == ["v0", "v1", "v2"] and ann.frame_ids().tolist() == [0, 30, 60]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def _write_raw(path, images, anns):
    for a in anns:
        a["boxes"] = json.dumps(a["boxes"]) if not isinstance(a["boxes"], str) else a["boxes"]
        a["keypoint_25d"] = np.asarray(a["keypoint_25d"]).ravel().tolist()
    path.write_text(json.dumps({"images": images, "annotations": anns}))
    return path


@pytest.mark.parametrize("field,value,message", [
    ("boxes", [15, 15, 85, 85],
     r"annotations\[1\] \(hand_id '11'\)\.boxes: expected a JSON-encoded STRING"),
    ("boxes", "[15, 15, 85]", r"\.boxes: expected 4 numbers"),
    ("boxes", "[15, 15, 10, 85]", r"\.boxes: expected x2 > x1"),
    ("keypoint_25d", [0.1] * 62, r"\.keypoint_25d: expected 63 numbers, got 62"),
    ("keypoint_25d", [float("nan")] * 63, r"\.keypoint_25d: expected finite"),
    ("left_right", "left", r"\.left_right: expected one of \['Left', 'Right'\]"),
    ("hand_id", 11, r"\.hand_id: expected a non-empty string"),
    ("hand_id", "10", r"annotations\[1\]\.hand_id: duplicate '10'"),
    ("image_id", 7, r"\.image_id: 7 is not an id"),
    ("positive_sample", ["99"], r"\.positive_sample: '99' is not a hand_id"),
    ("distance", [1.0, 2.0], r"\.distance: has 2 values but positive_sample has 1"),
])
def test_reader_names_file_and_field(tmp_path, field, value, message):
    images, anns = _pool(tmp_path)
    path = _write_raw(tmp_path / "bad.json", images, anns)
    data = json.loads(path.read_text())
    data["annotations"][1][field] = value
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="bad.json: (annotations.*)?" + message):
        read_annotations(path)


def test_reader_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.json"):
        read_annotations(tmp_path / "nope.json")
    (tmp_path / "t.json").write_text("{\"images\": [")
    with pytest.raises(ValueError, match="t.json: not valid JSON"):
        read_annotations(tmp_path / "t.json")
    (tmp_path / "t.json").write_text(json.dumps({"images": []}))
    with pytest.raises(ValueError, match="t.json: annotations: missing"):
        read_annotations(tmp_path / "t.json")


def test_writer_is_atomic_on_error(tmp_path):
    images, anns = _pool(tmp_path)
    out = write_annotations(tmp_path / "a.json", images, anns)
    before = out.read_bytes()
    anns[0]["left_right"] = "Both"
    with pytest.raises(ValueError, match="a.json: annotations\\[0\\].*left_right"):
        write_annotations(out, images, anns)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "frames"]


def test_dataset_official_processing(tmp_path):
    images, anns = _pool(tmp_path)
    ds = Hand100MDataset(write_annotations(tmp_path / "a.json", images, anns), root=tmp_path)
    s = ds[0].validate()
    # Window 5..95 (90 px) -> 224; the square's centre 27.5 -> (22.5 / 90) * 224 = 56.
    assert s.image.shape == (224, 224, 3) and s.image.dtype == np.uint8
    np.testing.assert_allclose(s.keypoints_2d[0, 0], [56.0, 56.0])
    assert s.image[56, 56].min() > 200 and s.image[56, 168].max() < 50
    assert s.is_right.tolist() == [True] and s.video_id == "v0" and s.frame_id == 0
    assert s.extras["positive_ids"] == ["11"] and s.extras["positive_index"] == 1
    left = ds[1]  # a Left hand: crop and u flipped (u -> 224 - u), raw x -> 1 - x
    np.testing.assert_allclose(left.keypoints_2d[0, 0], [168.0, 56.0])
    np.testing.assert_allclose(left.extras["keypoints_raw"][0, :2], [0.75, 0.25])
    assert left.image[56, 168].min() > 200 and left.image[56, 56].max() < 50
    assert left.extras["flipped"] and left.is_right.tolist() == [True]
    keep = Hand100MDataset(tmp_path / "a.json", root=tmp_path, flip_left=False)[1]
    np.testing.assert_allclose(keep.keypoints_2d[0, 0], [56.0, 56.0])
    assert keep.is_right.tolist() == [False] and not keep.extras["flipped"]


def test_dataset_default_root_and_missing_image(tmp_path):
    images, anns = _pool(tmp_path)
    path = write_annotations(tmp_path / "annotations" / "Synth" / "Hand100M_Synth_1k_v1-1.json",
                             images, anns)
    ds = Hand100MDataset(path)
    assert ds.root == tmp_path and ds[2].image.shape == (224, 224, 3)
    (tmp_path / "frames" / "2.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="2.png: cannot read the image of hand_id '12'"):
        ds[2]


def test_pair_dataset(tmp_path):
    images, anns = _pool(tmp_path)
    ds = Hand100MDataset(write_annotations(tmp_path / "a.json", images, anns), root=tmp_path)
    pairs = Hand100MPairDataset(ds)
    assert len(pairs) == 3
    anchor, positive = pairs[2]
    assert anchor.sample_id == "12" and positive.sample_id == "10"
    images, anns = _pool(tmp_path, positives=False)
    ds = Hand100MDataset(write_annotations(tmp_path / "b.json", images, anns), root=tmp_path)
    with pytest.raises(ValueError, match="3 hands have fewer than 1 positives.*handkit mine"):
        Hand100MPairDataset(ds)
