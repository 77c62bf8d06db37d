"""predict on people's images: bad files give a message, never a traceback; left hands mirror."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from handkit.cli import main
from handkit.models.checkpoint import load_model
from handkit.geometry.camera import project_points
import handkit.external.mediapipe as mp_ext
import handkit.infer.finders as finders
from handkit.infer.finders import Box, CentreFinder, FinderKeypoints, MediaPipeFinder
from handkit.infer.pipeline import photo_K
from handkit.infer.predict import (ASSUMED_BONE_M, _predict_files, _write, output_stems, predict,
                                   predict_image, read_image_rgb, unit_length)

from _infer_ckpt import tiny_checkpoint  # pytest (prepend mode) puts tests/infer on sys.path


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("ck") / "tiny.ckpt")


def _hand_image(w: int = 120, h: int = 100) -> np.ndarray:
    img = np.full((h, w, 3), 30, np.uint8)
    img[30:70, 45:80] = (200, 150, 120)  # a skin-coloured blob off-centre
    img[20:35, 50:55] = (210, 160, 130)
    return img


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    d = tmp_path_factory.mktemp("imgs")
    rgb = _hand_image()
    Image.fromarray(rgb).save(d / "rgb.jpg", quality=95)
    Image.fromarray(rgb.mean(2).astype(np.uint8)).save(d / "gray.png")
    Image.fromarray((rgb.mean(2) * 257).astype(np.uint16)).save(d / "deep16.png")
    Image.fromarray(np.full((40, 50, 3), 77, np.uint8)).save(d / "blank.png")
    data = (d / "rgb.jpg").read_bytes()
    (d / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (d / "notes.png").write_text("not an image")
    return d


def test_16_bit_and_grayscale_are_read_as_rgb8(images):
    deep, f = read_image_rgb(images / "deep16.png")
    gray, _ = read_image_rgb(images / "gray.png")
    assert deep.dtype == np.uint8 and deep.shape == (100, 120, 3) and f == 1
    assert deep.max() == 255 and np.array_equal(deep[..., 0], deep[..., 2])
    # 16-bit scaled by its maximum: the same picture as the 8-bit gray up to rounding
    expected = gray[..., 0].astype(float) / gray.max() * 255
    assert np.abs(deep[..., 0] - expected).max() <= 1.5


def test_truncated_and_non_images_are_clear_errors(images):
    with pytest.raises(ValueError, match="truncated"):
        read_image_rgb(images / "truncated.jpg")
    with pytest.raises(ValueError, match="notes.png: cannot decode"):
        read_image_rgb(images / "notes.png")
    with pytest.raises(FileNotFoundError):
        read_image_rgb(images / "missing.png")


def test_a_10k_image_is_reduced_on_decode(tmp_path, ckpt):
    path = tmp_path / "huge.jpg"
    big = np.zeros((10_000, 10_000, 3), np.uint8)
    big[4000:6000, 4500:5500] = 200
    Image.fromarray(big).save(path, quality=70)
    del big
    image, factor = read_image_rgb(path)
    assert max(image.shape[:2]) <= 2048 and factor == pytest.approx(10_000 / image.shape[1])
    net = load_model(ckpt)[0]
    result = predict_image(net, path, finder=CentreFinder())
    assert result.uv.shape == (21, 2) and np.isfinite(result.uv).all()
    assert 0 < result.uv[:, 0].mean() < 10_000 * 2  # reported in original pixels


def test_folder_run_skips_and_reports(images, ckpt, tmp_path):
    run = predict(images, ckpt=ckpt, out_dir=tmp_path, detector="centre", progress=False)
    done = sorted(r.path.split("/")[-1] for r in run.results)
    assert done == ["deep16.png", "gray.png", "rgb.jpg"]
    reasons = dict((p.split("/")[-1], why) for p, why in run.skipped)
    assert set(reasons) == {"truncated.jpg", "notes.png"} and "truncated" in reasons["truncated.jpg"]
    assert [p.split("/")[-1] for p, _ in run.no_hand] == ["blank.png"]
    assert run.no_hand[0][1] == "the image is blank (a single colour)."
    assert json.loads((tmp_path / "blank_png.json").read_text())["hand_found"] is False
    record = json.loads((tmp_path / "rgb_jpg.json").read_text())
    assert np.array(record["keypoints_2d_px"]).shape == (21, 2)
    assert np.array(record["keypoints_3d_rel_m"]).shape == (21, 3)
    assert record["handedness"] == "right" and record["score"] is None
    assert record["finder"]["name"] == "centre" and record["crop"]["passes"] == 1
    # the centred box: side 0.7 * min(H, W) = 70 px about the centre (60, 50) of 120 x 100
    np.testing.assert_allclose(record["crop"]["first_box_px"], [25, 15, 95, 85])
    for suffix in ("_overlay.png", "_3d.png"):
        assert (tmp_path / f"rgb_jpg{suffix}").read_bytes()[:4] == b"\x89PNG"


def test_cli_never_tracebacks(images, ckpt, tmp_path, capsys):
    assert main(["predict", str(images / "truncated.jpg"), "--ckpt", str(ckpt), "--out",
                 str(tmp_path), "--quiet"]) == 1
    out = capsys.readouterr()
    assert "truncated" in out.out and "Traceback" not in out.err
    assert main(["predict", str(images / "nothing.jpg"), "--ckpt", str(ckpt)]) == 2
    assert "no such image" in capsys.readouterr().err


def test_left_hands_are_mirrored_in_and_out(tmp_path, ckpt):
    rgb = _hand_image()
    Image.fromarray(rgb).save(tmp_path / "r.png")
    Image.fromarray(np.ascontiguousarray(rgb[:, ::-1])).save(tmp_path / "l.png")
    net = load_model(ckpt)[0]
    right = predict_image(net, tmp_path / "r.png", finder=CentreFinder(), hand="right")
    left = predict_image(net, tmp_path / "l.png", finder=CentreFinder(), hand="left")
    assert left.handedness == "left"
    assert np.allclose(left.uv[:, 0], 120 - right.uv[:, 0], atol=1e-3)
    assert np.allclose(left.uv[:, 1], right.uv[:, 1], atol=1e-3)
    assert np.allclose(left.xyz_bone[:, 0], -right.xyz_bone[:, 0], atol=1e-4)
    assert np.allclose(left.xyz_bone[:, 1:], right.xyz_bone[:, 1:], atol=1e-4)


def test_names_differing_only_in_case_keep_every_images_outputs(tmp_path, ckpt):
    src = tmp_path / "in"
    src.mkdir()
    for i, name in enumerate(["x.jpg", "x.JPG", "x.png"]):
        Image.fromarray(_hand_image() // (i + 1)).save(src / name, format="JPEG"
                                                       if name.lower().endswith("jpg") else "PNG")
    files = sorted(src.iterdir())
    stems = output_stems(files)
    assert len({s.casefold() for s in stems.values()}) == 3  # unique on any file system
    assert stems[src / "x.png"] == "x_png"
    run = predict(src, ckpt=ckpt, out_dir=tmp_path / "out", detector="centre", progress=False)
    records = {json.loads((tmp_path / "out" / f"{stems[p]}.json").read_text())["image"]
               for p in files}
    assert records == {str(p) for p in files} and len(run.results) == 3


def test_onnx_runtime_gives_torchs_keypoints_and_says_so(tmp_path, ckpt):
    Image.fromarray(_hand_image()).save(tmp_path / "hand.png")
    runs = {rt: predict(tmp_path / "hand.png", ckpt=ckpt, out_dir=tmp_path / rt,
                        detector="centre", runtime=rt, progress=False) for rt in ("torch", "onnx")}
    a, b = (runs[rt].results[0] for rt in ("torch", "onnx"))
    # float32 graphs of the same weights: equal to rounding, far below a pixel
    assert np.abs(a.uv - b.uv).max() < 1e-3
    record = json.loads((tmp_path / "onnx" / "hand_png.json").read_text())
    assert record["model"]["runtime"] == "onnx"
    assert json.loads((tmp_path / "torch" / "hand_png.json").read_text())["model"]["runtime"] \
        == "torch"
    with pytest.raises(ValueError, match="runtime"):
        predict(tmp_path / "hand.png", ckpt=ckpt, out_dir=tmp_path / "x", runtime="tensorrt")


class _LandmarkFinder:
    """A MediaPipe-like finder: one box with its own 2D and 3D keypoints."""

    name, threshold, passes = "fake-landmarks", 0.5, 1

    def __init__(self, uv, xyz_m):
        self.uv, self.xyz_m = uv, xyz_m

    def find_hands(self, image):
        x0, y0 = self.uv.min(0)
        x1, y1 = self.uv.max(0)
        kp = FinderKeypoints(self.uv.astype(np.float32), self.xyz_m, "fake landmarks")
        return [Box(float(x0), float(y0), float(x1), float(y1), 0.9, False, self.name,
                    keypoints=kp)]


def _camera_hand(bone_m: float) -> np.ndarray:
    """(21, 3) m: a hand-like point set 0.5 m in front of the camera whose middle MCP-PIP bone
    (joints 9-10) is `bone_m` long, joints spread in x, y and z."""
    rng = np.random.default_rng(3)
    xyz = rng.uniform(-0.04, 0.04, (21, 3)) + [0.02, -0.01, 0.5]
    d = xyz[10] - xyz[9]
    xyz[10] = xyz[9] + d / np.linalg.norm(d) * bone_m
    return xyz


def test_finder_keypoints_answer_by_default_with_their_shape_at_the_assumed_size(tmp_path, ckpt):
    Image.fromarray(_hand_image()).save(tmp_path / "hand.png")
    net = load_model(ckpt)[0]
    bone = ASSUMED_BONE_M[net.unit]
    truth = _camera_hand(bone)
    K = photo_K(100, 120)
    uv = project_points(truth, K)
    # the finder's 3D: the same shape, 1.7x too large and about another origin
    finder = _LandmarkFinder(uv, (1.7 * (truth - truth.mean(0))).astype(np.float32))
    result = predict_image(net, tmp_path / "hand.png", finder=finder)
    assert result.keypoints_source == "fake landmarks" and result.handedness == "left"
    np.testing.assert_allclose(result.uv, uv, atol=1e-4)
    # the unit bone is 1 in bone units; scale and placement recover the true camera-frame 3D
    assert np.linalg.norm(result.xyz_bone[10] - result.xyz_bone[9]) == pytest.approx(1, 1e-5)
    np.testing.assert_allclose(result.xyz_cam_m, truth, atol=1e-5)
    np.testing.assert_allclose(result.xyz_bone, (truth - truth[0]) / bone, atol=1e-4)
    _write(result, tmp_path / "out", net, "hand")
    record = json.loads((tmp_path / "out" / "hand.json").read_text())
    assert record["keypoints_source"] == "fake landmarks" and record["crop"]["passes"] == 0
    np.testing.assert_allclose(record["keypoints_3d_cam_m"], truth, atol=1e-4)


def test_network_keypoints_on_request_and_finder_keypoints_only_where_given(tmp_path, ckpt):
    Image.fromarray(_hand_image()).save(tmp_path / "hand.png")
    net = load_model(ckpt)[0]
    truth = _camera_hand(ASSUMED_BONE_M[net.unit])
    uv = project_points(truth, photo_K(100, 120))
    finder = _LandmarkFinder(uv, truth.astype(np.float32))
    by_net = predict_image(net, tmp_path / "hand.png", finder=finder, keypoints="network")
    assert by_net.keypoints_source == "network" and by_net.crop["passes"] == 1
    assert np.abs(by_net.uv - uv).max() > 1.0  # a random tiny network, not the landmarks
    with pytest.raises(ValueError, match="'centre' finder gives no keypoints"):
        predict_image(net, tmp_path / "hand.png", finder=CentreFinder(), keypoints="finder")
    assert predict_image(net, tmp_path / "hand.png", finder=CentreFinder()).keypoints_source \
        == "network"
    with pytest.raises(ValueError, match="keypoints"):
        predict_image(net, tmp_path / "hand.png", finder=finder, keypoints="mediapipe")
    no_3d = _LandmarkFinder(uv, None)
    with pytest.raises(ValueError, match="fake landmarks gave no 3D for this hand"):
        predict_image(net, tmp_path / "hand.png", finder=no_3d)
    nan_3d = truth.astype(np.float32)
    nan_3d[4, 2] = np.nan
    with pytest.raises(ValueError, match="xyz_m is not \\(21, 3\\) finite"):
        predict_image(net, tmp_path / "hand.png", finder=_LandmarkFinder(uv, nan_3d))
    # through predict's folder loop a bad finder answer is a skipped image, not a crash
    run = _predict_files(net, tmp_path / "hand.png", tmp_path / "out", progress=False,
                         hand="auto", box=None, passes=None, fit_mesh=False, mano_dir=None,
                         mesh_format="obj", finder=_LandmarkFinder(uv, nan_3d),
                         keypoints="auto")
    assert run.results == [] and "finite" in run.skipped[0][1]


def test_unit_length_reads_the_named_bone():
    xyz = np.zeros((21, 3))
    xyz[10] = [0.0, 3.0, 4.0]
    assert unit_length(xyz, "bone:middle_mcp-middle_pip") == 5.0
    assert unit_length(xyz, "m") == 1.0


class _GraphWithHand:
    """A fake MediaPipe graph that finds one hand at `uv_crop` (its input's pixels), or none."""

    version = "fake"

    def __init__(self, uv_crop, xyz_m):
        self.uv_crop, self.xyz_m = uv_crop, xyz_m

    def hands(self, image):
        if self.uv_crop is None:
            return []
        return [mp_ext.MediaPipeHand(self.uv_crop.astype(np.float32), "left", "Right", 0.9,
                                     0.9, self.xyz_m)]


def test_a_given_box_is_searched_by_mediapipe_else_the_network_answers(tmp_path, ckpt,
                                                                        monkeypatch):
    Image.fromarray(_hand_image()).save(tmp_path / "hand.png")
    net = load_model(ckpt)[0]
    truth = _camera_hand(ASSUMED_BONE_M[net.unit])
    uv = project_points(truth, photo_K(100, 120))
    box = tuple(float(v) for v in np.concatenate([uv.min(0), uv.max(0)]))
    side = max(box[2] - box[0], box[3] - box[1])
    f = finders.BOX_SEARCH_SIDE / (finders.BOX_CONTEXT * side)  # image px -> crop px
    centre = (np.array(box[:2]) + box[2:]) / 2
    uv_crop = f * (uv - centre) + finders.BOX_SEARCH_SIDE / 2
    monkeypatch.setattr(finders, "shared_hands",
                        lambda **kw: _GraphWithHand(uv_crop, truth.astype(np.float32)))
    result = predict_image(net, tmp_path / "hand.png", finder=MediaPipeFinder(), box=box)
    assert "in the given box" in result.keypoints_source
    np.testing.assert_allclose(result.uv, uv, atol=1e-3)
    np.testing.assert_allclose(result.xyz_cam_m, truth, atol=1e-4)
    assert result.finder["name"] == "mediapipe" and result.crop["given_box_px"] == list(box)
    by_net = predict_image(net, tmp_path / "hand.png", finder=MediaPipeFinder(), box=box,
                           keypoints="network")
    assert by_net.keypoints_source == "network" and by_net.finder["name"] == "box"
    monkeypatch.setattr(finders, "shared_hands", lambda **kw: _GraphWithHand(None, None))
    fallback = predict_image(net, tmp_path / "hand.png", finder=MediaPipeFinder(), box=box)
    assert fallback.keypoints_source == "network" and fallback.finder["name"] == "box"
    assert any("MediaPipe found no hand in the given box" in n for n in fallback.notes)
    with pytest.raises(ValueError, match="'finder' with a given box needs MediaPipe"):
        predict_image(net, tmp_path / "hand.png", finder=None, box=box, keypoints="finder")
    monkeypatch.setattr(finders, "mediapipe_available", lambda: False)
    monkeypatch.setattr("handkit.infer.predict.mediapipe_available", lambda: False)
    with pytest.raises(ValueError, match="'finder' with a given box needs MediaPipe"):
        predict(tmp_path / "hand.png", ckpt=ckpt, out_dir=tmp_path / "o", box=box,
                keypoints="finder", progress=False)
