"""InterHand2.6M two-hand scores on arrays, DIGIT's conventions (specs/digit.md §4.2-4.4).

Model-free: `infer.evaluate_digit` runs a model over a dataset and calls `interhand_scores`.

**MPJPE** (``update_mpjpe``, ``compute_metric_dict``): each hand is root-aligned separately
(joint 20 from 0-20, joint 41 from 21-41) in prediction and ground truth; the error of joint j
joins the single-hand list ``sh[j]`` or the interacting list ``ih[j]``; ``mpjpe_sh`` /
``mpjpe_ih`` / ``mpjpe_all`` are the **mean over the 42 joints of the per-joint means** (not a
mean over joint instances), with the two wrists included at error ≡ 0 (which lowers the numbers
by 40/42). The variants ``*_no_wrist`` average the 40 other joints. The official code crashes
when a joint has no sample in a list; here such a joint is left out of that mean and
``joints_sh`` / ``joints_ih`` / ``joints_all`` say how many joints were averaged (42 when the
official number is defined).

**MRRPE** (``update_mrrpe``): over interacting frames with both roots valid,
‖(L̂ − R̂) − (L − R)‖ of the predicted and GT root positions (`eval.metrics.mrrpe`).

**Handedness accuracy** (``update_hand_cls_counts``; the official key is ``handness_acc``):
over frames with hand_type_valid; right counts as correct iff p_r > 0.5 and p_l < 0.5, left iff
p_r < 0.5 and p_l > 0.5, interacting iff both > 0.5.

Units: inputs meters, outputs millimetres.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from handkit.eval.metrics import mpjpe, mrrpe
from handkit.losses.digit import ROOT_OF_JOINT, ROOTS
from handkit.utils.check import check_shape

__all__ = ["JOINT_NAMES_42", "root_align", "interhand_scores", "handedness_correct",
           "batch_mpjpe"]

_FINGERS = ("thumb", "index", "middle", "ring", "pinky")
JOINT_NAMES_42: tuple[str, ...] = tuple(
    f"{side}_{name}" for side in ("r", "l")
    for name in [f"{f}{4 - k}" for f in _FINGERS for k in range(4)] + ["wrist"])
"""skeleton.txt names in InterHand order (r_thumb4 … r_wrist, l_thumb4 … l_wrist)."""


def root_align(joints: Any) -> Any:
    """(N, 42, 3) numpy or torch → each hand minus its own root (20 for 0-20, 41 for 21-41)."""
    return joints - joints[:, list(ROOT_OF_JOINT)]


def batch_mpjpe(pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """A batch's MPJPE for monitoring (mm): hands root-aligned, mean over the valid non-root
    joints of hands whose root is valid (not the official per-joint aggregation).

    Args:
        pred, gt: (B, 42, 3) meters, camera frame. valid: (B, 42) bool.
    """
    v = valid.bool() & valid.bool()[:, list(ROOT_OF_JOINT)]
    v[:, list(ROOTS)] = False
    err = (root_align(pred) - root_align(gt)).norm(dim=-1)[v]
    return (err.mean() if err.numel() else err.new_zeros(())) * 1000.0


def handedness_correct(prob: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(N,) bool: DIGIT's per-frame rule (module docstring) for probabilities (N, 2) [right,
    left] and targets (N, 2) in {[1, 0], [0, 1], [1, 1]}."""
    above = prob > 0.5
    below = prob < 0.5
    right, left = target[:, 0] > 0.5, target[:, 1] > 0.5
    ok_r = above[:, 0] & below[:, 1]
    ok_l = below[:, 0] & above[:, 1]
    ok_i = above[:, 0] & above[:, 1]
    return np.where(right & left, ok_i, np.where(right, ok_r, ok_l))


def interhand_scores(pred: Any, gt: Any, valid: Any, interacting: Any, *,
                     hand_prob: Any = None, hand_target: Any = None, hand_valid: Any = None,
                     pred_roots: Any = None, gt_roots: Any = None, root_valid: Any = None
                     ) -> dict[str, Any]:
    """DIGIT's evaluation numbers for N frames.

    Args:
        pred, gt: (N, 42, 3) float, meters, camera frame, InterHand order (each hand lifted
            with its own absolute root depth, §4.2).
        valid: (N, 42) bool, annotation validity after root propagation (no crop culling).
        interacting: (N,) bool, the frame's hand_type is "interacting".
        hand_prob, hand_target: optional (N, 2) [right, left] probabilities and targets;
            hand_valid: optional (N,) bool (hand_type_valid).
        pred_roots, gt_roots: optional (N, 2, 3) meters, [right, left] root positions for MRRPE
            (the prediction's left root placed with the predicted relative depth, §4.3);
            root_valid: (N,) bool, frames that count (interacting, both roots valid).

    Returns:
        dict: ``mpjpe_{sh,ih,all}`` and ``mpjpe_{sh,ih,all}_no_wrist`` (mm), ``joints_{sh,ih,
        all}`` (joints averaged), ``per_joint`` {name: {"sh", "ih", "all"}} (mm, NaN if none),
        ``frames_{sh,ih}``, and when given ``mrrpe`` (mm, with ``frames_mrrpe``) and
        ``handedness_acc`` (with ``frames_handedness``).
    """
    pred = np.asarray(pred, np.float64)
    gt = np.asarray(gt, np.float64)
    n = check_shape(pred, "N 42 3", name="pred", allow_empty=True)["N"]
    check_shape(gt, f"{n} 42 3", name="gt", allow_empty=True)
    valid = np.asarray(valid, bool).reshape(n, 42)
    inter = np.asarray(interacting, bool).reshape(n)
    aligned = [torch.from_numpy(root_align(x) * 1000.0) for x in (pred, gt)]  # mm
    out: dict[str, Any] = {"frames_sh": int((~inter).sum()), "frames_ih": int(inter.sum())}
    per = {}
    for key, rows in (("sh", ~inter), ("ih", inter), ("all", np.ones(n, bool))):
        mask = torch.from_numpy(valid & rows[:, None])
        means = mpjpe(*aligned, mask, reduction="per_joint").numpy()  # NaN: no sample
        per[key] = means
        have = ~np.isnan(means)
        keep40 = have.copy()
        keep40[list(ROOTS)] = False
        out[f"mpjpe_{key}"] = float(means[have].mean()) if have.any() else float("nan")
        out[f"mpjpe_{key}_no_wrist"] = float(means[keep40].mean()) if keep40.any() else \
            float("nan")
        out[f"joints_{key}"] = int(have.sum())
    out["per_joint"] = {name: {k: float(per[k][j]) for k in ("sh", "ih", "all")}
                        for j, name in enumerate(JOINT_NAMES_42)}
    if pred_roots is not None:
        mask = np.asarray(root_valid, bool).reshape(n)
        out["frames_mrrpe"] = int(mask.sum())
        pr, gr = np.asarray(pred_roots, np.float64), np.asarray(gt_roots, np.float64)
        out["mrrpe"] = (float(mrrpe(pr[:, 0], pr[:, 1], gr[:, 0], gr[:, 1], mask)) * 1000.0
                        if mask.any() else float("nan"))
    if hand_prob is not None:
        hv = np.ones(n, bool) if hand_valid is None else np.asarray(hand_valid, bool).reshape(n)
        ok = handedness_correct(np.asarray(hand_prob), np.asarray(hand_target))
        out["frames_handedness"] = int(hv.sum())
        out["handedness_acc"] = float(ok[hv].mean()) if hv.any() else float("nan")
    return out
