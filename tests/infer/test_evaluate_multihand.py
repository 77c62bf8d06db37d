"""Scoring a multi-hand model over a dataset, with a stub model whose detections are known."""


import numpy as np
import pytest
import torch

from handkit.data.schema import Sample
from handkit.data.smhr_inputs import SMHRItems
from handkit.infer.evaluate_multihand import evaluate_multihand
from handkit.models.prediction import HandPrediction, Prediction


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
