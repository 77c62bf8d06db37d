"""`handkit predict` with a DIGIT checkpoint on a full image: the crop from the hand finder's
boxes (their union grown by a margin; both hands must be inside), the whole-image fallback,
and what the JSON says (finder, crop, whether K was given or assumed)."""

import json

import numpy as np
import pytest
import torch

from handkit.data.formats.interhand import InterHand26M
from handkit.infer import predict_digit as pd
from handkit.infer.finders import Box
from handkit.models.registry import create_model

from _infer_ckpt import digit_checkpoint  # pytest (prepend mode) puts tests/infer on sys.path


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from handkit.data.synth.runner import synthesize

    return synthesize("interhand", tmp_path_factory.mktemp("ihp"), 30, seed=5, size=256,
                      progress=False)


@pytest.fixture(scope="module")
def two_hands(synth):
    """(image path, (2, 21, 2) GT keypoints px) of the first interacting training frame whose
    hands are apart (each hand's box misses some of the other hand's keypoints)."""
    ds = InterHand26M(synth, "train")
    for i in range(len(ds)):
        s = ds[i]
        if s.extras["hand_type"] != "interacting":
            continue
        uv = s.keypoints_2d.astype(np.float64)
        lo, hi = uv[0].min(0), uv[0].max(0)
        if not ((uv[1] >= lo) & (uv[1] <= hi)).all(-1).all():
            return synth / "images" / s.sample_id, uv
    pytest.fail("no interacting frame with the hands apart in the fixture")


@pytest.fixture(scope="module")
def net():
    return create_model("digit", backbone="stem4", image_size=64, size="small").eval()


@pytest.fixture(scope="module")
def ckpt(net, tmp_path_factory):
    return digit_checkpoint(tmp_path_factory.mktemp("ckpt") / "digit.ckpt", net)


class FixedFinder:
    """A finder that returns the boxes it was given (a stand-in for MediaPipe)."""

    name, threshold, passes = "fixed", 0.5, 1

    def __init__(self, boxes):
        self.boxes = [Box(*map(float, b), 0.9, None, "fixed") for b in boxes]

    def find_hands(self, image):
        return list(self.boxes)


def _inside(uv, box):
    x0, y0, x1, y1 = box
    return (uv[..., 0] >= x0) & (uv[..., 0] <= x1) & (uv[..., 1] >= y0) & (uv[..., 1] <= y1)


def test_the_union_box_is_grown_by_the_margin_of_its_longer_side():
    boxes = [Box(10, 20, 30, 40, 0.9, True, "x"), Box(50, 10, 70, 30, 0.8, False, "x")]
    # union (10, 10)-(70, 40): longer side 60, 0.1 of it = 6 each way
    assert pd.union_box(boxes, 0.1) == pytest.approx([4, 4, 76, 46])
    assert pd.union_box(np.array([[0, 0, 10, 20]]), 0.0) == pytest.approx([0, 0, 10, 20])
    with pytest.raises(ValueError, match="no box"):
        pd.union_box([], 0.1)
    with pytest.raises(ValueError, match="margin"):
        pd.union_box(boxes, -0.1)


def test_the_crop_from_both_hands_boxes_holds_both_hands(net, two_hands):
    from handkit.infer.predict import read_image_rgb

    path, uv = two_hands
    image, factor = read_image_rgb(path)
    assert factor == 1
    tight = [np.r_[uv[k].min(0), uv[k].max(0)] for k in range(2)]  # a finder's tight boxes
    record = pd.predict_digit_image(net, image, finder=FixedFinder(tight))
    crop = record["crop"]
    assert crop["source"] == "finder" and crop["finder"]["name"] == "fixed"
    assert len(crop["finder"]["found"]) == 2
    assert _inside(uv, crop["box_px"]).all()  # all 42 keypoints in DIGIT's crop
    # the crop is the union grown by MARGIN, then square x 1.25: its side from the union's
    x0, y0, x1, y1 = pd.union_box(FixedFinder(tight).boxes)
    side = crop["box_px"][2] - crop["box_px"][0]
    assert side == pytest.approx(1.25 * max(x1 - x0, y1 - y0), abs=0.02)
    # one hand's box alone would not hold the other hand: the check above can fail
    alone = pd.predict_digit_image(net, image, finder=FixedFinder(tight[:1]))
    assert not _inside(uv, alone["crop"]["box_px"]).all()


def test_no_hand_found_or_no_finder_means_the_whole_image(net, two_hands, monkeypatch):
    from handkit.infer.predict import read_image_rgb

    image, _ = read_image_rgb(two_hands[0])
    h, w = image.shape[:2]
    side = max(h, w)
    whole = [w / 2 - side / 2, h / 2 - side / 2, w / 2 + side / 2, h / 2 + side / 2]
    found_none = pd.predict_digit_image(net, image, finder=FixedFinder([]))
    assert found_none["crop"]["source"] == "whole image"
    assert "'fixed' finder found no hand" in found_none["crop"]["rule"]
    assert found_none["crop"]["finder"]["found"] == []
    assert found_none["crop"]["box_px"] == pytest.approx(whole, abs=0.01)
    no_finder = pd.predict_digit_image(net, image)
    assert no_finder["crop"]["source"] == "whole image" and no_finder["crop"]["finder"] is None
    assert no_finder["crop"]["box_px"] == pytest.approx(whole, abs=0.01)
    # auto without MediaPipe installed: no finder (the whole image); whole: never one
    monkeypatch.setattr(pd, "mediapipe_available", lambda: False)
    assert pd.digit_finder("auto") is None and pd.digit_finder("whole") is None
    assert pd.digit_finder("centre").name == "centre"
    with pytest.raises(ValueError, match="one hand at the image's centre"):
        pd.digit_finder("handkit")
    with pytest.raises(ValueError, match="--detector trained: needs a detector checkpoint"):
        pd.digit_finder("trained")


def test_the_json_names_the_finder_the_crop_and_whether_K_was_given(ckpt, two_hands,
                                                                     tmp_path):
    from handkit.cli import main
    from handkit.geometry.camera import project

    path, _ = two_hands
    out = tmp_path / "centre"
    assert main(["predict", str(path), "--ckpt", str(ckpt), "--out", str(out),
                 "--detector", "centre"]) == 0
    record = json.loads(next(out.glob("*.json")).read_text())
    assert record["crop"]["source"] == "finder" and record["crop"]["finder"]["name"] == "centre"
    assert len(record["crop"]["finder"]["found"]) == 1
    assert record["assumptions"]["K_source"] == "assumed"
    out = tmp_path / "K"
    assert main(["predict", str(path), "--ckpt", str(ckpt), "--out", str(out),
                 "--detector", "whole", "--K", "300", "310", "80", "120"]) == 0
    record = json.loads(next(out.glob("*.json")).read_text())
    assert record["crop"]["source"] == "whole image" and record["crop"]["finder"] is None
    K = np.array([[300, 0, 80], [0, 310, 120], [0, 0, 1.0]])
    assert record["assumptions"]["K_source"] == "given"
    assert np.array(record["assumptions"]["K_px"]) == pytest.approx(K)
    for hand in record["hands"]:  # the 3D lies on the given K's rays of the 2D
        xyz = torch.tensor(hand["keypoints_3d_cam_m"], dtype=torch.float64)
        uv = torch.tensor(hand["keypoints_2d_px"], dtype=torch.float64)
        assert torch.allclose(project(xyz, torch.from_numpy(K)), uv, atol=2e-2)


def test_digit_only_flags_are_refused_elsewhere(ckpt, two_hands, tmp_path, capsys):
    from handkit.cli import main

    path, _ = two_hands
    cases = [(["--ckpt", str(ckpt), "--detector", "handkit"], "--detector handkit"),
             (["--ckpt", str(ckpt), "--K", "0", "300", "80", "120"], "FX, FY > 0"),
             (["--K", "300", "300", "80", "120"], "--K: only for DIGIT checkpoints"),
             (["--detector", "whole"], "--detector whole: only for DIGIT checkpoints")]
    for k, (extra, message) in enumerate(cases):
        assert main(["predict", str(path), "--out", str(tmp_path / str(k))] + extra) != 0
        assert message in capsys.readouterr().err
        assert not list((tmp_path / str(k)).glob("*.json"))
