import json

import numpy as np
import pytest
import torch

from _format_fixtures import write_image, write_json
from handkit.data.formats import open_dataset
from handkit.data.formats.youtube3d import YouTube3DHands, load_regressor
from handkit.data.schema import SampleError


def _regressor(rng):
    m = rng.uniform(0, 1, (16, 778))
    return m / m.sum(1, keepdims=True)


def make_yt(root, rng):
    vertices = [rng.uniform(0, 60, (778, 3)) for _ in range(3)]
    images = [{"id": 1, "name": "youtube/vidA/video/frames/17.png", "width": 64, "height": 48},
              {"id": 2, "name": "youtube/vidB/video/frames/3.png", "width": 64, "height": 48}]
    anns = [{"id": 10, "image_id": 1, "is_left": 0, "vertices": vertices[0].tolist()},
            {"id": 11, "image_id": 1, "is_left": 1, "vertices": vertices[1].tolist()},
            {"id": 12, "image_id": 2, "is_left": 0, "vertices": vertices[2].tolist()}]
    write_json(root / "youtube_train.json", {"images": images, "annotations": anns})
    write_image(root / "youtube/vidA/video/frames/17.png", (9, 9, 9), size=(48, 64))
    write_image(root / "youtube/vidB/video/frames/3.jpg", (9, 9, 9), size=(24, 32))  # PeCLR's .jpg frames
    return vertices


def test_keypoints_from_regressor_and_tips(tmp_path):
    rng = np.random.default_rng(0)
    M = _regressor(rng)
    np.save(tmp_path / "reg.npy", M)
    V = make_yt(tmp_path, rng)
    ds = YouTube3DHands(tmp_path, "train", regressor=tmp_path / "reg.npy")
    assert len(ds) == 3
    s = ds[0]
    # handkit 0 = MANO joint 0 (wrist) = M[0]·V; 5 (index MCP) = M[1]·V; 1 (thumb base) = M[13]·V
    for j, row in ((0, 0), (5, 1), (1, 13), (17, 7), (13, 10)):
        np.testing.assert_allclose(s.keypoints_2d[0, j], (M[row] @ V[0])[:2], rtol=1e-5)
    # tips: thumb 744, index 320, middle 443, ring 555, pinky 672
    for j, vid in ((4, 744), (8, 320), (12, 443), (16, 555), (20, 672)):
        np.testing.assert_allclose(s.keypoints_2d[0, j], V[0][vid, :2], rtol=1e-6)
        assert s.extras["depth"][j] == pytest.approx(V[0][vid, 2], rel=1e-6)
    assert s.K is None and s.keypoints_3d is None and s.is_right[0]
    assert not ds[1].is_right[0]
    assert s.video_id == "vidA" and s.frame_id == 17 and s.sample_id == "youtube/vidA/video/frames/17.png#10"


def test_jpg_fallback_and_resize_to_json_size(tmp_path):
    rng = np.random.default_rng(1)
    torch.save(torch.from_numpy(_regressor(rng)), tmp_path / "reg.pth")
    make_yt(tmp_path, rng)
    s = open_dataset("youtube3d", tmp_path, "train", regressor=tmp_path / "reg.pth")[2]
    assert s.image.shape == (48, 64, 3) and s.video_id == "vidB"


def test_regressor_errors(tmp_path):
    rng = np.random.default_rng(2)
    make_yt(tmp_path, rng)
    with pytest.raises(ValueError, match="regressor: YouTube3DHands keypoints need the 16×778"):
        YouTube3DHands(tmp_path, "train")
    np.save(tmp_path / "bad.npy", np.ones((16, 778)))
    with pytest.raises(ValueError, match=r"bad\.npy: regressor: rows must sum to 1"):
        YouTube3DHands(tmp_path, "train", regressor=tmp_path / "bad.npy")
    np.save(tmp_path / "short.npy", np.ones((16, 777)) / 777)
    with pytest.raises(ValueError, match=r"short\.npy: regressor: expected \(16, 778\), got \(16, 777\)"):
        load_regressor(tmp_path / "short.npy")
    with pytest.raises(FileNotFoundError, match=r"nope\.npy: missing \(MANO mesh-to-joints"):
        load_regressor(tmp_path / "nope.npy")


def test_bad_annotations_name_file_and_field(tmp_path):
    rng = np.random.default_rng(3)
    make_yt(tmp_path, rng)
    p = tmp_path / "youtube_train.json"
    data = json.loads(p.read_text())
    data["annotations"][0]["vertices"] = data["annotations"][0]["vertices"][:777]
    data["annotations"][1]["vertices"][5][0] = float("nan")
    data["annotations"][2]["image_id"] = 99
    p.write_text(json.dumps(data))
    ds = YouTube3DHands(tmp_path, "train", regressor=_regressor(rng))
    with pytest.raises(SampleError, match=r"youtube_train\.json: annotations\[0\]\.vertices: expected \(778, 3\), got \(777, 3\)"):
        ds[0]
    with pytest.raises(SampleError, match=r"youtube_train\.json: annotations\[1\]\.vertices: contains NaN"):
        ds[1]
    with pytest.raises(SampleError, match=r"youtube_train\.json: images\[id=99\]: missing"):
        ds[2]
    (tmp_path / "youtube/vidA/video/frames/17.png").unlink()
    data["annotations"][0]["vertices"] = data["annotations"][2]["vertices"]
    p.write_text(json.dumps(data))
    with pytest.raises(FileNotFoundError, match=r"17\.png: missing \(image\)"):
        YouTube3DHands(tmp_path, "train", regressor=_regressor(rng))[0]
