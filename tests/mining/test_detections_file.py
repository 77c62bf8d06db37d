"""A split's detections in S2HAND's layout (mining/detections_file.py), read back by the s2hand
data reader."""

import json

import numpy as np
import pytest
import torch

from handkit.mining.detect2d import ModelKeypoints
from handkit.mining.detections_file import detect_split
from handkit.data.s2hand import read_detections


class _Fixed(torch.nn.Module):
    """Keypoints at (3 + j, S/2) px of the S-px input, confidence `conf` for every joint."""

    def __init__(self, conf: float):
        super().__init__()
        self.conf = conf
        self.dummy = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x):
        b, s = x.shape[0], x.shape[-1]
        kp = torch.stack([3 + torch.arange(21.0), torch.full((21,), s / 2)], -1)
        return torch.cat([kp.expand(b, 21, 2), torch.full((b, 21, 1), self.conf)], -1)


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from handkit.data.synth.runner import synthesize

    return synthesize("freihand", tmp_path_factory.mktemp("fh"), 8, seed=1, size=64,
                      progress=False)


def test_detections_round_trip_through_s2hands_pixel_convention(synth, tmp_path):
    source = ModelKeypoints(_Fixed(0.9), normalize=False)
    out = detect_split(synth, "training", source, tmp_path / "detect_all.json", batch_size=3)
    kp_file, conf_file, names = json.loads(out.read_text())
    assert len(names) == 7 and np.array(conf_file).shape == (7, 21, 1)
    assert np.allclose(np.array(kp_file)[0, 0], [3 - 0.5, 32 - 0.5])  # OpenPose's pixel indices
    kp, conf = read_detections(out, 7)
    expected = np.stack([3 + np.arange(21.0), np.full(21, 32.0)], -1)
    assert np.allclose(kp, expected) and np.allclose(conf, 0.9)
    # the detector at half size: its pixels are mapped back to the image's
    small = detect_split(synth, "training", source, tmp_path / "small.json", size=32)
    kp, _ = read_detections(small, 7)
    assert np.allclose(kp, np.stack([2 * (3 + np.arange(21.0)), np.full(21, 32.0)], -1))


def test_hands_not_found_are_written_as_missing_joints(synth, tmp_path):
    source = ModelKeypoints(_Fixed(0.3), normalize=False, min_confidence=0.5)
    out = detect_split(synth, "training", source, tmp_path / "none.json", limit=2)
    kp, conf, _ = json.loads(out.read_text())
    assert np.array_equal(kp, np.zeros((2, 21, 2))) and np.array_equal(conf, np.zeros((2, 21, 1)))
