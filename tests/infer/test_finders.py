"""Hand finders: the blank check, the crop-following score (hand-derived cases), and images
without hands (scikit-image's cat, coffee and rocket; blank, single-colour and noise images):
no hand from the handkit finder with the shipped model, and from MediaPipe when installed."""

from __future__ import annotations

import json

import numpy as np
import pytest
import skimage.data

from handkit.data.crop import centre_box
from handkit.external.mediapipe import mediapipe_available
from handkit.infer.finders import (CentreFinder, HandkitFinder, MediaPipeFinder, crop_following,
                                   is_blank)
from handkit.infer.predict import predict
from handkit.models.checkpoint import load_model


def test_blank_means_every_channel_is_flat():
    assert is_blank(np.zeros((30, 40, 3), np.uint8))
    # a single colour: the std over all values is ~80 (it counts the channels' difference)
    red = np.full((30, 40, 3), (255, 0, 0), np.uint8)
    assert red.std() > 50 and is_blank(red)
    edge = red.copy()
    edge[:, :20, 1] = 4  # one channel with a 4-level step: std 2 over the image
    assert not is_blank(edge)
    assert CentreFinder().find_hands(red) == []
    assert len(CentreFinder().find_hands(edge)) == 1


def test_crop_following_hand_derived_cases():
    rng = np.random.default_rng(0)
    uv0 = rng.uniform(0, 100, (21, 2))
    shifts = np.array([[0, 0], [5, 0], [-5, 0], [0, 5], [0, -5]], float)
    still = np.repeat(uv0[None], 5, 0)  # the same image keypoints from every crop
    rigid = uv0[None] + shifts[:, None]  # keypoints fixed in the crop: they move with it
    assert crop_following(still, shifts) == pytest.approx(0.0, abs=1e-12)
    assert crop_following(rigid, shifts) == pytest.approx(1.0, rel=1e-12)
    half = uv0[None] + 0.5 * shifts[:, None]
    assert crop_following(half, shifts) == pytest.approx(0.5, rel=1e-12)
    # motion across the shift (here: x-shifts moving y) is not following
    across = uv0[None] + shifts[:, None, ::-1]
    assert crop_following(across, shifts) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="shifts"):
        crop_following(still, np.zeros((5, 2)))


def _no_hand_images() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"cat": skimage.data.chelsea(), "coffee": skimage.data.coffee(),
            "rocket": skimage.data.rocket(), "black": np.zeros((240, 320, 3), np.uint8),
            "teal": np.full((240, 320, 3), (0, 128, 128), np.uint8),
            "noise": rng.integers(0, 256, (256, 256, 3), dtype=np.uint8),
            "gray_noise": np.repeat(rng.integers(0, 256, (200, 300, 1), dtype=np.uint8), 3, 2)}


@pytest.fixture(scope="module")
def shipped():
    return load_model(None)[0].eval()


def test_handkit_finder_sees_no_hand(shipped):
    finder = HandkitFinder(shipped)
    scores = {}
    for name, image in _no_hand_images().items():
        if is_blank(image):
            assert finder.find_hands(image) == [], name
        else:
            scores[name] = finder.score_box(image, centre_box(*image.shape[:2], 0.7))[0]
    # measured 0.18-0.34 with the shipped checkpoint (threshold 0.5 by definition)
    assert max(scores.values()) < finder.threshold, scores


@pytest.mark.skipif(not mediapipe_available(), reason="mediapipe not installed "
                    "(the optional extra handkit[mediapipe], docs/predict.md)")
def test_mediapipe_finder_sees_no_hand():
    finder = MediaPipeFinder(max_hands=2)
    for name, image in _no_hand_images().items():
        assert finder.find_hands(image) == [], name


def test_predict_says_no_hand_for_every_kind(tmp_path, shipped):
    from PIL import Image

    for name, image in _no_hand_images().items():
        Image.fromarray(image).save(tmp_path / f"{name}.png")
    for detector in ("handkit", "mediapipe") if mediapipe_available() else ("handkit",):
        out = tmp_path / detector
        run = predict(tmp_path, out_dir=out, detector=detector, progress=False)
        assert run.results == [] and run.skipped == [] and len(run.no_hand) == 7
        record = json.loads((out / "cat_png.json").read_text())
        assert record["hand_found"] is False and record["finder"]["name"] == detector
        assert "blank" in dict(run.no_hand)[str(tmp_path / "teal.png")]
