"""Scoring a multi-hand model over a dataset, with a stub model whose detections are known."""


import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from handkit.data.schema import Sample
from handkit.data.smhr_inputs import SMHRItems
from handkit.infer.evaluate_multihand import evaluate_multihand
from handkit.models.prediction import HandPrediction, Prediction
from handkit.models.registry import create_model

sys.path.insert(0, str(Path(__file__).parents[1] / "models"))  # SMHR fed the world's labels
from _smhr_fixture import inject, stored_parameter_maps, stored_world  # noqa: E402


def _sample(n, seed):
    rng = np.random.default_rng(seed)
    uv = np.stack([(40 + 60 * k, 60) + rng.uniform(-15, 15, (21, 2)) for k in range(n)])
    xyz = np.concatenate([uv / 500, np.full((n, 21, 1), 0.5)], -1)
    xyz = xyz + rng.normal(0, 0.01, (n, 21, 3))
    return Sample(image=np.zeros((128, 128, 3), np.uint8), keypoints_2d=uv.astype(np.float32),
                  joint_valid=np.ones((n, 21), bool), is_right=np.array([True, False][:n]),
                  keypoints_3d=xyz.astype(np.float32)).validate()


class _Stub:
    """Detects hand 0 of every image exactly (score 0.9; its 3D scaled by 2 and shifted) and
    one far-away hand (score 0.2)."""

    image_size = 64

    def __init__(self, data):
        self.items = SMHRItems(data, size=64, max_objs=4, augment=False)

    def eval(self):
        return self

    def preprocess(self, images):
        return images.float()

    def predict(self, images):
        hands = []
        for i in range(images.shape[0]):
            item = self.items[i]
            xyz = torch.from_numpy(self.items.source.get(i, 0).keypoints_3d[0]).double()
            good = HandPrediction(item["uv"][0].double(), 2 * xyz + 1, "camera", "m", True, 0.9)
            junk = HandPrediction(torch.full((21, 2), 500.0, dtype=torch.float64),
                                  torch.ones(21, 3, dtype=torch.float64), "camera", "m", True, 0.2)
            hands.append((good, junk))
        return Prediction(tuple(hands))


def test_scores_by_hand():
    data = [_sample(2, 0), _sample(1, 1)]
    out = evaluate_multihand(_Stub(data), data)
    # ranked: hit 0.9, hit 0.9, miss 0.2, miss 0.2 over 3 labelled hands: AP = 2/3
    assert out["num_gt"] == 3 and out["num_pred"] == 4 and out["images"] == 2
    assert out["ap"] == pytest.approx(2 / 3) and out["recall"] == pytest.approx(2 / 3)
    assert out["precision"] == pytest.approx(0.5)
    assert out["handedness"] == 1.0 and out["matched"] == 2
    assert out["uv_px"] == pytest.approx(0.0, abs=1e-5)
    assert out["pa_mpjpe_mm"] == pytest.approx(0.0, abs=1e-3)  # a similarity of the truth
    assert out["bad"] == 0


class _CellStub(_Stub):
    """`_Stub` plus SMHR's GT-centre reading: at each cell it returns the label of the hand
    whose centre the cell is, shifted by `shift` px, side flipped for slot 1, its 3D scaled by
    3 (a similarity of the truth)."""

    def __init__(self, data, shift):
        super().__init__(data)
        self.shift = shift

    def __call__(self, images):
        return {"hm": torch.zeros(images.shape[0], 1, 16, 16)}

    def camera_K(self, images, K):
        return torch.eye(3).expand(images.shape[0], 3, 3)

    def read_cells(self, maps, ind, K):
        b, s = ind.shape
        uv = torch.zeros(b * s, 21, 2, dtype=torch.float64)
        joints = torch.zeros(b * s, 21, 3, dtype=torch.float64)
        is_right = torch.zeros(b, s, dtype=torch.bool)
        for i in range(b):
            item = self.items[i]
            sample = self.items.source.get(i, 0)
            for k in np.flatnonzero(item["slot"].numpy()):
                uv[i * s + k] = item["uv"][k].double() + self.shift
                joints[i * s + k] = 3 * torch.from_numpy(sample.keypoints_3d[k]).double()
                is_right[i, k] = bool(item["is_right"][k]) != bool(k == 1)
        return {"uv": uv, "joints": joints, "is_right": is_right}


def test_gt_centre_reading_scores_every_labelled_hand():
    data = [_sample(2, 0), _sample(1, 1)]
    out = evaluate_multihand(_CellStub(data, torch.tensor([3.0, 4.0], dtype=torch.float64)), data,
                             gt_centres=True, ap_thresholds=(0.25, 0.9))
    assert out["gtc_hands"] == 3
    assert out["gtc_uv_px"] == pytest.approx(5.0)  # a (3, 4) px shift of every joint
    assert out["gtc_pa_mpjpe_mm"] == pytest.approx(0.0, abs=1e-3)
    assert out["gtc_handedness"] == pytest.approx(2 / 3)  # slot 1 of image 0 flipped
    # KS of a 5 px error: exp(-25 / (2 (0.1 s)^2)), s = sqrt(w h) of each GT keypoint box
    ks = []
    for sample in data:
        for uv in sample.keypoints_2d:
            uv = uv.astype(np.float64) * 64 / 128  # the 128 px image in the 64 px input
            w, h = uv.max(0) - uv.min(0)
            ks.append(np.exp(-25 / (2 * 0.01 * w * h)))
    assert out["gtc_ks"] == pytest.approx(np.mean(ks), rel=1e-4)
    assert out["ap@0.25"] == pytest.approx(out["ap"])  # the stub's hits are exact, misses far
    assert "ap@0.9" in out
    plain = evaluate_multihand(_Stub(data), data)
    assert not any(k.startswith("gtc_") for k in plain)


def test_gallery_draws_every_hand(tmp_path):
    import cv2

    data = [_sample(2, 0), _sample(1, 1), _sample(2, 2)]
    out = evaluate_multihand(_Stub(data), data, gallery=tmp_path / "g.png", gallery_images=2)
    png = cv2.imread(out["gallery"])[..., ::-1]
    assert out["gallery"] == str(tmp_path / "g.png") and png.shape[1] > png.shape[0]
    red = (png[..., 0] > 200) & (png[..., 1] < 80) & (png[..., 2] < 80)  # right hands' boxes
    green = (png[..., 1] > 150) & (png[..., 0] < 100) & (png[..., 2] < 120)  # the labels
    assert red.sum() > 50 and green.sum() > 50
    with pytest.raises(IsADirectoryError):
        evaluate_multihand(_Stub(data), data, gallery=tmp_path)


class _MeshStub(_Stub):
    """`_Stub` whose good hand also has a mesh: a 2-triangle square 0.2 m in front of the
    camera, filling the middle of the image."""

    def camera_K(self, images, K):
        return torch.tensor([[64.0, 0, 32], [0, 64.0, 32], [0, 0, 1]]).expand(len(images), 3, 3)

    def predict(self, images):
        pred = super().predict(images)
        square = torch.tensor([[-0.05, -0.05, 0.2], [0.05, -0.05, 0.2], [0.05, 0.05, 0.2],
                               [-0.05, 0.05, 0.2]], dtype=torch.float64)
        hands = tuple((dataclasses.replace(good, vertices=square), junk)
                      for good, junk in pred.hands)
        return Prediction(hands, faces=torch.tensor([[0, 1, 2], [0, 2, 3]]))


def test_gallery_draws_the_meshes(tmp_path):
    import cv2

    data = [_sample(1, 0)]
    plain = cv2.imread(evaluate_multihand(_Stub(data), data, gallery=tmp_path / "a.png")
                       ["gallery"])[..., ::-1].astype(int)
    mesh = cv2.imread(evaluate_multihand(_MeshStub(data), data, gallery=tmp_path / "b.png")
                      ["gallery"])[..., ::-1].astype(int)
    assert plain.shape == mesh.shape
    bluish = lambda png: ((png[..., 2] > png[..., 0] + 40) & (png[..., 2] > 120)).sum()  # noqa
    assert bluish(mesh) > bluish(plain) + 500  # the shaded light-blue square


def test_gt_parameters_score_zero_pa_mpjpe(tmp_path, monkeypatch):
    """An SMHR whose maps hold the synthetic world's ground truth (each hand's stored OpenHand
    parameters in its side's set, a centre peak and its true side at its cell; `_smhr_fixture`)
    scores perfectly: every hand is found and matched (AP 1), and PA-MPJPE is 0 on the matched
    detections and at the labelled centres. So both paths pair each hand with its own label,
    joint by joint, for left and right hands.

    Bounds, from the worst-case rounding budget of `_smhr_fixture` (< 2.5e-3 mm and < 1.5e-3
    px per joint coordinate), not from a run: PA-MPJPE ≤ the RMS error after the least-squares
    similarity fit ≤ that of the fit "no rotation, no scale, roots matched", whose error is the
    root-relative one, < 2.5e-3·√3 = 4.3e-3 mm < 1e-2; a joint's 2D error < 1.5e-3·√2 =
    2.1e-3 px < 1e-2.
    """
    dataset, hands = stored_world(tmp_path / "mh")
    assert {h["handedness"] for image in hands for h in image} == {"left", "right"}
    net = create_model("smhr", backbone="resnet18", image_size=128, hand_model="openhand",
                       camera="intrinsics", channels=8, max_hands=4)
    batch, maps = stored_parameter_maps(net, dataset, hands)
    w = net.image_size // net.stride
    for ind, slot in zip(batch["ind"], batch["slot"]):  # SMHR's 5×5 NMS keeps every centre
        cells = [divmod(int(c), w) for c in ind[slot]]
        assert all(max(abs(a[0] - b[0]), abs(a[1] - b[1])) > 2
                   for i, a in enumerate(cells) for b in cells[:i]), "centres too close"
    inject(monkeypatch, net, maps)
    out = evaluate_multihand(net, dataset, gt_centres=True)
    n = sum(map(len, hands))
    assert out["num_gt"] == out["num_pred"] == out["matched"] == out["gtc_hands"] == n
    assert out["ap"] == 1 and out["handedness"] == 1 and out["gtc_handedness"] == 1
    assert out["pa_mpjpe_mm"] < 1e-2 and out["gtc_pa_mpjpe_mm"] < 1e-2, out
    assert out["uv_px"] < 1e-2 and out["gtc_uv_px"] < 1e-2, out
