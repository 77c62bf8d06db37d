import os
import stat
import sys

import numpy as np
import pytest
import torch

from handkit.mining.detect2d import LabelKeypoints, MediaPipeKeypoints, ModelKeypoints


class _StandIn(torch.nn.Module):
    """Joint j at (j, 2j) in normalised units / 100; confidence = the crop's mean red value."""

    def __init__(self, channels: int = 3):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))
        self.channels = channels

    def forward(self, x):
        b = x.shape[0]
        j = torch.arange(21, dtype=x.dtype)
        uv = torch.stack([j, 2 * j], -1)[None].expand(b, 21, 2) / 100 * self.scale
        if self.channels == 2:
            return uv
        conf = x[:, 0].mean((1, 2))[:, None, None].expand(b, 21, 1)
        return torch.cat([uv, conf], -1)


def _images(reds):
    img = np.zeros((len(reds), 32, 32, 3), np.uint8)
    img[..., 0] = np.asarray(reds, np.uint8)[:, None, None]
    return img


def test_model_adapter_pixels_confidence_and_not_found():
    src = ModelKeypoints(_StandIn(), coords="normalized", normalize=False, min_confidence=0.5)
    det = src.detect(np.arange(3), _images([255, 0, 204]))
    np.testing.assert_allclose(det.keypoints[0, 20], [20 / 100 * 32, 40 / 100 * 32], rtol=1e-6)
    np.testing.assert_allclose(det.confidence, [1.0, 0.0, 0.8], atol=1e-6)
    assert det.found.tolist() == [True, False, True]
    assert np.isnan(det.keypoints[1]).all()
    det = ModelKeypoints(_StandIn(2), normalize=False).detect(np.arange(2), _images([0, 0]))
    np.testing.assert_allclose(det.keypoints[0, 20], [0.2, 0.4], rtol=1e-6)  # pixels as given
    assert det.found.all() and (det.confidence == 1).all()


def test_model_adapter_tuple_output_and_bad_output():
    class Tup(torch.nn.Module):
        def forward(self, x):
            return torch.zeros(x.shape[0], 21, 2), torch.full((x.shape[0],), 0.25)

    det = ModelKeypoints(Tup()).detect(np.arange(2), _images([1, 2]))
    np.testing.assert_allclose(det.confidence, [0.25, 0.25])

    class Bad(torch.nn.Module):
        def forward(self, x):
            return torch.zeros(x.shape[0], 16, 2)

    with pytest.raises(ValueError, match="model output: expected \\(2, 21, C\\)"):
        ModelKeypoints(Bad()).detect(np.arange(2), _images([1, 2]))
    with pytest.raises(ValueError, match="coords: unknown value 'uv'"):
        ModelKeypoints(Bad(), coords="uv")


def test_labels_nan_rows_are_not_found():
    kp = np.random.default_rng(0).uniform(0, 224, (4, 21, 2))
    kp[2, 5] = np.nan
    det = LabelKeypoints(kp).detect(np.array([1, 2, 3]))
    assert det.found.tolist() == [True, False, True]
    np.testing.assert_allclose(det.keypoints[0], kp[1], rtol=1e-6)


def test_mediapipe_unavailable_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.delenv("HANDKIT_MEDIAPIPE_PYTHON", raising=False)
    with pytest.raises(ValueError, match="no Python interpreter configured.*mediapipe==0.10.21"):
        MediaPipeKeypoints()
    with pytest.raises(ValueError, match="is not an executable Python"):
        MediaPipeKeypoints(tmp_path / "nope" / "python")
    src = MediaPipeKeypoints(sys.executable)  # a Python without mediapipe: the worker fails
    with pytest.raises(ValueError, match="worker .* failed .*mediapipe"):
        src.detect(np.arange(1), _images([0]))


_FAKE_MEDIAPIPE = '''
import types
class _P:
    def __init__(self, x, y): self.x, self.y = x, y
class _Hands:
    def __init__(self, **kw): self.kw = kw
    def __enter__(self): return self
    def __exit__(self, *a): return False
    def process(self, img):
        if img[..., 0].mean() < 10:  # a dark crop: no hand
            return types.SimpleNamespace(multi_hand_landmarks=None)
        lm = types.SimpleNamespace(landmark=[_P(j / 40, 0.5) for j in range(21)])
        cls = types.SimpleNamespace(classification=[types.SimpleNamespace(score=0.9, label="Left")])
        return types.SimpleNamespace(multi_hand_landmarks=[lm], multi_handedness=[cls])
solutions = types.SimpleNamespace(hands=types.SimpleNamespace(Hands=_Hands))
'''


def test_mediapipe_subprocess_protocol_with_a_fake_venv(tmp_path):
    (tmp_path / "mediapipe").mkdir()
    (tmp_path / "mediapipe" / "__init__.py").write_text(_FAKE_MEDIAPIPE)
    py = tmp_path / "python"
    py.write_text(f"#!/bin/sh\nPYTHONPATH={tmp_path} exec {sys.executable} \"$@\"\n")
    py.chmod(py.stat().st_mode | stat.S_IEXEC)
    det = MediaPipeKeypoints(py).detect(np.arange(2), _images([200, 0]))
    assert det.found.tolist() == [True, False]
    np.testing.assert_allclose(det.keypoints[0, 20], [20 / 40 * 32, 16.0])
    np.testing.assert_allclose(det.confidence, [0.9, 0.0], atol=1e-6)
