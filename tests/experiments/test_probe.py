import math

import numpy as np
import pytest
import torch

from handkit.experiments.probe import (HandSet, encode, knn_pose_probe, load_hands,
                                      reference_errors)
from handkit.models.backbones import create_backbone
from handkit.models.encoders import save_torchvision


def _poses(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(scale=0.03, size=(n, 21, 3)) + np.array([0.0, 0.0, 0.5])


def _similarity(xyz, seed=1):
    """Each hand rotated, scaled and moved by its own random similarity."""
    rng = np.random.default_rng(seed)
    out = []
    for hand in xyz:
        q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        q *= np.sign(np.linalg.det(q))
        out.append(rng.uniform(0.5, 2.0) * hand @ q.T + rng.normal(size=3))
    return np.stack(out)


def test_probe_retrieves_the_neighbour_the_features_point_to():
    train = _poses(6)
    test = _similarity(train[[4, 0, 2]])  # same articulations, other rotation/scale/place
    feats = torch.eye(6)
    assert knn_pose_probe(feats, train, feats[[4, 0, 2]], test) == pytest.approx(0.0, abs=1e-3)
    wrong = knn_pose_probe(feats, train, feats[[0, 2, 4]], test)
    assert wrong > 10.0  # mm: the poses differ by ~3 cm per joint


def _set(xyz):
    """A HandSet whose crop keypoints are the x, y of the poses (no images needed)."""
    return HandSet(np.zeros((len(xyz), 1, 1, 3), np.uint8), xyz, xyz[..., :2] * 1000)


def test_reference_errors_hand_derived():
    train = _poses(5)
    one = train[:1].repeat(3, axis=0)  # every labelled hand the same pose P
    refs = reference_errors(_set(one), _set(_similarity(train[[0, 0, 0]])))
    assert refs["mean_pose"] == pytest.approx(0.0, abs=1e-3)  # the mean pose is P itself
    assert refs["oracle"] == pytest.approx(0.0, abs=1e-3)
    assert refs["true_2d_pose"] == pytest.approx(0.0, abs=1e-3)  # only P to retrieve
    test = train[[1, 3]]
    refs = reference_errors(_set(train), _set(test))
    assert refs["oracle"] == pytest.approx(0.0, abs=1e-3) and refs["mean_pose"] > 5.0
    # the test hands' own 2D keypoints are in the labelled set: retrieval finds them exactly
    assert refs["true_2d_pose"] == pytest.approx(0.0, abs=1e-3)


def test_encode_is_normalised_seeded_and_loads_weights(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, size=(3, 32, 32, 3), dtype=np.uint8)
    a, b, c = (encode(images, None, seed=s) for s in (0, 0, 1))
    assert a.shape == (3, 512) and torch.allclose(a.norm(dim=1), torch.ones(3))
    assert torch.equal(a, b) and not torch.allclose(a, c)
    torch.manual_seed(7)
    net = create_backbone("resnet18").eval()
    path = tmp_path / "enc.pth"
    save_torchvision(net, path)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        want = torch.nn.functional.normalize(net.forward_pooled((x - mean) / std), dim=1)
    assert torch.allclose(encode(images, path, seed=3), want, atol=1e-5)


def test_load_hands_from_a_freihand_layout(tmp_path):
    from handkit.data.synth.runner import synthesize

    root = synthesize("freihand", tmp_path / "fh", 8, seed=0, workers=1, progress=False)
    hands = load_hands(root, "training", size=48)
    assert hands.images.shape == (7, 48, 48, 3) and hands.images.dtype == np.uint8
    assert hands.xyz.shape == (7, 21, 3) and hands.uv.shape == (7, 21, 2) and hands.skipped == 0
    # the crop is centred on the keypoint box, which fills 0.7 of it
    extent = hands.uv.max(axis=1) - hands.uv.min(axis=1)
    assert np.allclose(extent.max(axis=1), 0.7 * 48, atol=1e-6)
    assert math.isfinite(float(hands.xyz.sum()))
    with pytest.raises(ValueError, match="root: no usable hand"):
        load_hands(root, "training", limit=0)
