"""Scoring images with any number of hands: matching predictions to labelled hands, detection
AP at a keypoint-similarity threshold, handedness accuracy (issue 16 item 4).

**Keypoint similarity** (an OKS for hands): KS = mean over the GT's valid joints of
exp(−d² / (2 (κ s)²)), d the 2D distance in px, s = √(w·h) of the GT keypoint box, κ = 0.1 by
default (so a joint off by 10 % of the hand's size scores e^−½ ≈ 0.61). 1 is perfect, 0 far.

**Matching.** `match_hands` is one-to-one Hungarian matching (scipy ``linear_sum_assignment``)
on the mean 2D keypoint distance; a pair counts only if its KS ≥ the threshold. This is what
per-hand accuracy (handedness, PCK, PA-MPJPE) is computed on. `detection_ap` uses the
standard detection rule instead (COCO): predictions in descending score order each take the
unmatched GT of highest KS ≥ threshold; AP is the area under the precision envelope
(all-point interpolation). SMHR's own multi-hand protocol reads the network at the GT centres
(no detection at all) and is reported separately, labelled as such, by the training task.

Model-free: arrays in, numbers out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from handkit.utils.check import check_shape

__all__ = ["keypoint_similarity", "match_hands", "detection_ap", "average_precision", "box_iou",
           "handedness_accuracy",
           "ImageHands", "Matches", "gt_centre_scores"]


@dataclass(frozen=True)
class ImageHands:
    """The hands of one image, predicted or labelled.

    Attributes:
        uv: (N, 21, 2) float px. is_right: (N,) bool.
        score: (N,) float detection confidences (predictions), or None (labels).
        valid: (N, 21) bool joint labels (labels), or None (all valid).
    """

    uv: np.ndarray
    is_right: np.ndarray
    score: np.ndarray | None = None
    valid: np.ndarray | None = None

    def __post_init__(self) -> None:
        # an image without hands is fine: allow_empty
        n = check_shape(self.uv, "N 21 2", name="uv", allow_empty=True)["N"]
        check_shape(self.is_right, f"{n}", name="is_right", allow_empty=True)
        if self.score is not None:
            check_shape(self.score, f"{n}", name="score", allow_empty=True)
        if self.valid is not None:
            check_shape(self.valid, f"{n} 21", name="valid", allow_empty=True)

    def __len__(self) -> int:
        return int(self.uv.shape[0])

    def joint_valid(self) -> np.ndarray:
        return np.ones(self.uv.shape[:2], bool) if self.valid is None else self.valid.astype(bool)


def keypoint_similarity(pred: np.ndarray, gt: np.ndarray, gt_valid: np.ndarray | None = None,
                        *, kappa: float = 0.1) -> np.ndarray:
    """KS of every prediction against every labelled hand (module doc).

    Args:
        pred: (P, 21, 2) px. gt: (G, 21, 2) px. gt_valid: (G, 21) bool (None: all).
        kappa: the fraction of the hand's size at which a joint scores e^−½.

    Returns:
        (P, G) float64 in [0, 1]; 0 for a GT without valid joints.
    """
    pred = np.asarray(pred, np.float64).reshape(-1, 21, 2)
    gt = np.asarray(gt, np.float64).reshape(-1, 21, 2)
    valid = np.ones(gt.shape[:2], bool) if gt_valid is None else np.asarray(gt_valid, bool)
    out = np.zeros((len(pred), len(gt)))
    for g in range(len(gt)):
        pts = gt[g][valid[g]]
        if len(pts) == 0:
            continue
        w, h = np.maximum(pts.max(0) - pts.min(0), 1.0)  # a 1-px floor for degenerate boxes
        s2 = (kappa ** 2) * w * h
        d2 = ((pred[:, valid[g]] - pts[None]) ** 2).sum(-1)  # (P, n)
        out[:, g] = np.exp(-d2 / (2 * s2)).mean(-1)
    return out


@dataclass(frozen=True)
class Matches:
    """Matched (prediction, label) index pairs of one image and their KS."""

    pred: np.ndarray  # (M,) int
    gt: np.ndarray  # (M,) int
    similarity: np.ndarray  # (M,) float


def match_hands(pred: ImageHands, gt: ImageHands, *, threshold: float = 0.5,
                kappa: float = 0.1) -> Matches:
    """One-to-one Hungarian matching on the mean 2D keypoint distance (over the GT's valid
    joints), keeping the pairs with KS ≥ `threshold`."""
    empty = Matches(np.zeros(0, int), np.zeros(0, int), np.zeros(0))
    if len(pred) == 0 or len(gt) == 0:
        return empty
    valid = gt.joint_valid()
    d = np.linalg.norm(pred.uv[:, None].astype(np.float64) - gt.uv[None], axis=-1)  # (P, G, 21)
    w = valid[None].astype(np.float64)
    cost = (d * w).sum(-1) / np.maximum(w.sum(-1), 1.0)
    rows, cols = linear_sum_assignment(cost)
    ks = keypoint_similarity(pred.uv, gt.uv, valid, kappa=kappa)[rows, cols]
    keep = ks >= threshold
    return Matches(rows[keep], cols[keep], ks[keep])


def detection_ap(preds: Sequence[ImageHands], gts: Sequence[ImageHands], *,
                 threshold: float = 0.5, kappa: float = 0.1) -> dict[str, float]:
    """Detection precision, recall and AP over a set of images at a KS threshold.

    Args:
        preds, gts: per image, the predictions (with scores) and the labels.

    Returns:
        `average_precision`'s dict.
    """
    if len(preds) != len(gts):
        raise ValueError(f"preds: {len(preds)} images, gts: {len(gts)}.")
    for pred in preds:
        if pred.score is None and len(pred):
            raise ValueError("preds: detection AP needs scores on the predictions.")
    return average_precision(
        [keypoint_similarity(p.uv, g.uv, g.joint_valid(), kappa=kappa) for p, g in zip(preds, gts)],
        [np.zeros(0) if p.score is None else p.score for p in preds], threshold)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box of `a` (P, 4) with every box of `b` (G, 4), boxes
    x0, y0, x1, y1 px → (P, G) float64 (0 where the union is empty)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)[:, None]
    b = np.asarray(b, np.float64).reshape(-1, 4)[None]
    w = (np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0])).clip(min=0)
    h = (np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1])).clip(min=0)
    inter = w * h
    area = lambda x: (x[..., 2] - x[..., 0]).clip(min=0) * (x[..., 3] - x[..., 1]).clip(min=0)
    union = area(a) + area(b) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def average_precision(similarity: Sequence[np.ndarray], scores: Sequence[np.ndarray],
                      threshold: float) -> dict[str, float]:
    """Greedy matching by score (each label used once, the most similar free one, a hit when
    its similarity ≥ `threshold`), then precision, recall and all-point AP.

    Args:
        similarity: per image a (P, G) matrix (keypoint similarity, box IoU, ...).
        scores: per image the (P,) prediction scores.

    Returns:
        dict: ``ap`` (area under the precision envelope), ``precision`` and ``recall`` of all
        predictions, ``num_pred``, ``num_gt``. NaN AP/recall without labelled hands.
    """
    all_scores, hits = [], []
    num_gt = 0
    for sim, score in zip(similarity, scores):
        sim = np.asarray(sim, np.float64)
        num_gt += sim.shape[1] if sim.ndim == 2 else 0
        if len(score) == 0:
            continue
        taken = np.zeros(sim.shape[1], bool)
        for p in np.argsort(-np.asarray(score), kind="stable"):
            hit = False
            if sim.shape[1]:
                cand = np.where(taken, -1.0, sim[p])
                g = int(cand.argmax())
                if cand[g] >= threshold:
                    taken[g], hit = True, True
            all_scores.append(float(score[p]))
            hits.append(hit)
    num_pred = len(all_scores)
    if num_gt == 0:
        return {"ap": float("nan"), "precision": float("nan") if num_pred == 0 else 0.0,
                "recall": float("nan"), "num_pred": num_pred, "num_gt": 0}
    order = np.argsort(-np.asarray(all_scores), kind="stable")
    tp = np.cumsum(np.asarray(hits, float)[order]) if num_pred else np.zeros(0)
    fp = np.cumsum(1.0 - np.asarray(hits, float)[order]) if num_pred else np.zeros(0)
    recall = tp / num_gt
    precision = tp / np.maximum(tp + fp, 1e-12)
    # all-point interpolation: precision envelope, summed over the recall steps
    r = np.concatenate([[0.0], recall, [recall[-1] if num_pred else 0.0]])
    p = np.concatenate([[1.0], precision, [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    ap = float(np.sum((r[1:] - r[:-1]) * p[1:]))
    return {"ap": ap, "precision": float(precision[-1]) if num_pred else float("nan"),
            "recall": float(recall[-1]) if num_pred else 0.0,
            "num_pred": num_pred, "num_gt": num_gt}


def handedness_accuracy(preds: Sequence[ImageHands], gts: Sequence[ImageHands], *,
                        threshold: float = 0.5, kappa: float = 0.1) -> dict[str, float]:
    """Fraction of matched hands (`match_hands`) whose side is right, and how many matched.

    Returns:
        dict: ``accuracy`` (NaN when nothing matched), ``matched``, ``num_gt``.
    """
    correct = matched = num_gt = 0
    for pred, gt in zip(preds, gts, strict=True):
        m = match_hands(pred, gt, threshold=threshold, kappa=kappa)
        matched += len(m.pred)
        num_gt += len(gt)
        correct += int((pred.is_right[m.pred] == gt.is_right[m.gt]).sum())
    return {"accuracy": correct / matched if matched else float("nan"), "matched": matched,
            "num_gt": num_gt}


def gt_centre_scores(uv: Tensor, uv_gt: Tensor, slot: Tensor, is_right: Tensor,
                     is_right_gt: Tensor, valid: Tensor | None = None) -> dict[str, Tensor]:
    """SMHR's multi-hand protocol: the network read at the ground-truth centres (no detection).

    Args:
        uv, uv_gt: (B, S, 21, 2) px, predicted at the GT cells and labelled. slot: (B, S) bool
            real hands. is_right, is_right_gt: (B, S) bool. valid: optional (B, S, 21) joints.

    Returns:
        ``uv_px``: mean 2D joint error over real hands' valid joints, px; ``handedness``:
        accuracy over real hands; ``uv_px_smhr``: SMHR's number, the mean over *all* slots
        (empty ones against (0, 0)) halved; ``handedness_smhr``: SMHR's accuracy over all slots,
        empty ones always wrong. Scalars.
    """
    err = torch.linalg.vector_norm(uv - uv_gt, dim=-1)  # (B, S, 21)
    real = slot.to(err.dtype)
    w = real[..., None] * (torch.ones_like(err) if valid is None else valid.to(err.dtype))
    correct = (is_right == is_right_gt).to(err.dtype)
    return {"uv_px": (err * w).sum() / w.sum().clamp_min(1.0),
            "handedness": (correct * real).sum() / real.sum().clamp_min(1.0),
            "uv_px_smhr": err.mean() / 2,
            "handedness_smhr": (correct * real).sum() / real.numel()}
