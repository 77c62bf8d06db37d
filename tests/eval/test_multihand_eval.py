"""Multi-hand scoring: keypoint similarity, Hungarian matching, AP and handedness by hand."""

import math

import numpy as np
import pytest

from handkit.eval.multihand import (ImageHands, detection_ap, handedness_accuracy,
                                    keypoint_similarity, match_hands)


def _hand(x, y, size=100.0):
    """21 keypoints spanning a size × size box with corner (x, y)."""
    rng = np.random.default_rng(int(x * 7 + y))
    uv = rng.uniform(0, size, (21, 2))
    uv[0], uv[1] = (0, 0), (size, size)
    return uv + [x, y]


def test_keypoint_similarity_by_hand():
    gt = _hand(10, 20)[None]
    # every joint off by 10 px on a 100 x 100 hand, kappa 0.1: exp(-100 / (2 * 100)) = e^-1/2
    assert keypoint_similarity(gt + [6.0, 8.0], gt)[0, 0] == pytest.approx(math.exp(-0.5))
    assert keypoint_similarity(gt, gt)[0, 0] == 1.0
    valid = np.zeros((1, 21), bool)
    valid[0, :2] = True  # box of the valid joints only: still 100 x 100
    off = gt.copy()
    off[0, 5:] += 1000  # invalid joints do not count
    assert keypoint_similarity(off, gt, valid)[0, 0] == 1.0
    assert keypoint_similarity(gt, gt, np.zeros((1, 21), bool))[0, 0] == 0.0


def test_hungarian_matching_is_one_to_one_and_gated():
    g = np.stack([_hand(0, 0), _hand(300, 0)])
    gt = ImageHands(g, np.array([True, False]))
    # predictions in the other order, plus one far away
    p = np.stack([g[1] + 2, g[0] - 3, _hand(1000, 1000)])
    pred = ImageHands(p, np.array([False, True, True]), score=np.array([0.9, 0.8, 0.7]))
    m = match_hands(pred, gt)
    assert sorted(zip(m.pred.tolist(), m.gt.tolist())) == [(0, 1), (1, 0)]
    assert handedness_accuracy([pred], [gt]) == {"accuracy": 1.0, "matched": 2, "num_gt": 2}
    wrong = ImageHands(p, np.array([True, True, True]), score=pred.score)
    assert handedness_accuracy([wrong], [gt])["accuracy"] == 0.5
    assert len(match_hands(ImageHands(np.zeros((0, 21, 2)), np.zeros(0, bool)), gt).pred) == 0


def test_detection_ap_by_hand():
    # image 1: two labelled hands, a hit (0.9) and a miss (0.8); image 2: one label, a hit (0.7)
    # ranked: hit, miss, hit -> recall 1/3, 1/3, 2/3; precision 1, 1/2, 2/3
    # AP = 1/3 * 1 + (2/3 - 1/3) * 2/3 = 5/9
    g1 = np.stack([_hand(0, 0), _hand(300, 0)])
    g2 = _hand(50, 50)[None]
    p1 = ImageHands(np.stack([g1[0] + 1, _hand(700, 700)]), np.ones(2, bool),
                    score=np.array([0.9, 0.8]))
    p2 = ImageHands(g2 + 1, np.ones(1, bool), score=np.array([0.7]))
    gts = [ImageHands(g1, np.ones(2, bool)), ImageHands(g2, np.ones(1, bool))]
    out = detection_ap([p1, p2], gts)
    assert out["ap"] == pytest.approx(5 / 9)
    assert out["precision"] == pytest.approx(2 / 3) and out["recall"] == pytest.approx(2 / 3)
    assert out["num_pred"] == 3 and out["num_gt"] == 3
    # a duplicate of a hit is a false positive (each label matched once)
    dup = ImageHands(np.stack([g2[0] + 1, g2[0] + 2]), np.ones(2, bool), score=np.array([.6, .5]))
    assert detection_ap([dup], [gts[1]])["precision"] == 0.5
    # no prediction: AP 0; no label: NaN
    none = ImageHands(np.zeros((0, 21, 2)), np.zeros(0, bool), score=np.zeros(0))
    assert detection_ap([none], [gts[1]])["ap"] == 0.0
    assert math.isnan(detection_ap([p2], [none])["ap"])
    with pytest.raises(ValueError, match="scores"):
        detection_ap([ImageHands(g2, np.ones(1, bool))], [gts[1]])


def test_gt_centre_scores_by_hand():
    import torch

    from handkit.eval.multihand import gt_centre_scores

    gt = torch.zeros(1, 2, 21, 2)
    gt[0, 0] = 10.0
    pred = gt.clone()
    pred[0, 0, :, 0] += 3.0  # every joint of the real hand off by 3 px
    pred[0, 1] = 4.0  # the empty slot predicts (4, 4): 4·sqrt(2) px from (0, 0)
    slot = torch.tensor([[True, False]])
    out = gt_centre_scores(pred, gt, slot, torch.tensor([[True, True]]),
                           torch.tensor([[True, False]]))
    assert out["uv_px"].item() == pytest.approx(3.0)
    assert out["handedness"].item() == 1.0
    assert out["uv_px_smhr"].item() == pytest.approx((3.0 + 4 * math.sqrt(2)) / 2 / 2)
    assert out["handedness_smhr"].item() == 0.5  # the empty slot counts as wrong


def test_box_iou_hand_derived():
    from handkit.eval.multihand import box_iou

    a = np.array([[0, 0, 10, 10], [20, 20, 30, 40]])
    b = np.array([[5, 5, 15, 15], [0, 0, 10, 10], [100, 100, 100, 120]])
    iou = box_iou(a, b)
    assert iou.shape == (2, 3)
    assert iou[0, 0] == pytest.approx(25 / 175)  # 5x5 overlap of two 10x10 boxes
    assert iou[0, 1] == 1.0 and iou[1, 0] == 0.0
    assert iou[0, 2] == 0.0  # a zero-area box overlaps nothing
    assert box_iou(np.zeros((0, 4)), b).shape == (0, 3)


def test_average_precision_on_boxes_hand_derived():
    from handkit.eval.multihand import average_precision, box_iou

    gt = [np.array([[0, 0, 10, 10], [50, 50, 60, 60]]), np.zeros((0, 4))]
    pred = [np.array([[0, 0, 10, 11], [200, 200, 210, 210]]), np.array([[0, 0, 5, 5]])]
    scores = [np.array([0.9, 0.8]), np.array([0.7])]
    out = average_precision([box_iou(p, g) for p, g in zip(pred, gt)], scores, 0.5)
    # by score: 0.9 hit (IoU 10/11), 0.8 miss, 0.7 miss (image without hands): 1 of 2 labels
    assert out["num_pred"] == 3 and out["num_gt"] == 2
    assert out["recall"] == pytest.approx(0.5) and out["precision"] == pytest.approx(1 / 3)
    assert out["ap"] == pytest.approx(0.5)  # precision 1 up to recall 0.5, then nothing
