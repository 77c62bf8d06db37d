"""FreiHAND's mesh scores in one call: MPVPE, PA-MPVPE, mesh AUC and F@5 / F@15 mm.

Restated from the official evaluation (lmb-freiburg/freihand `eval.py`: `main`,
`align_w_scale`, `align_by_trafo`, `calculate_fscore`; its `EvalUtil` for means and AUC).
docs/mesh.md, "Meshes: metrics, overlays and files", lists what is matched and what is not.

- Vertices in correspondence (same count V, FreiHAND's ``shape_is_mano``): the similarity is
  fitted on the **vertices** (not the joints) with `pa_align(..., reflection=True)`, i.e. the
  orthogonal Procrustes of `align_w_scale`, which may mirror.
- Another topology (V differs from GT's 778): no MPVPE/AUC (NaN; FreiHAND writes -1), and the
  vertices are moved by the similarity fitted on the 21 joints. Here the official
  `align_by_trafo` does not divide by the predicted joints' norm and rotates about the vertex
  centroid; we apply the joints' similarity itself instead (a deliberate difference).
- F-score per sample (exact nearest neighbours both ways, strict ``d < t``), mean over
  samples; both unaligned (``f@5mm``) and aligned (``pa_f@5mm``, the leaderboard's).
- MPVPE = mean over vertices of the per-vertex mean over samples (`EvalUtil`), AUC of the
  percentage of correct vertices over `PCK_PRESETS[pck]` (``freihand``: 100 thresholds in
  0-50 mm, d ≤ t, trapezoid / 50 mm).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from handkit.eval.metrics import PCK_PRESETS, f_score, joint_errors, pa_align, pck_curve
from handkit.geometry._tensors import float_tensor
from handkit.utils.check import check_choice, check_finite, check_shape

__all__ = ["FREIHAND_F_THRESHOLDS", "mesh_scores", "threshold_name"]

FREIHAND_F_THRESHOLDS = (0.005, 0.015)
"""Meters: FreiHAND's `f_threshs`."""


def threshold_name(threshold: float) -> str:
    """0.005 → ``"5mm"``, 0.0025 → ``"2.5mm"`` (the suffix of the F-score keys)."""
    return f"{threshold * 1000:g}mm"


def mesh_scores(pred_verts: Any, gt_verts: Any, *, pred_joints: Any = None,
                gt_joints: Any = None, thresholds: Sequence[float] = FREIHAND_F_THRESHOLDS,
                pck: str = "freihand") -> dict[str, float]:
    """Every mesh score of FreiHAND's `eval.py` for a batch of meshes.

    Args:
        pred_verts: (B, V, 3) float, meters, camera frame, predicted vertices.
        gt_verts: (B, V', 3) float, meters, camera frame; V' = V for meshes in correspondence.
        pred_joints, gt_joints: (B, 21, 3) float, meters; needed only when V != V' (the
            vertices are then aligned with the similarity fitted on the joints).
        thresholds: F-score thresholds, meters (FreiHAND: 5 and 15 mm).
        pck: a `PCK_PRESETS` name for the mesh AUC.

    Returns:
        ``mpvpe_mm``, ``mesh_auc``, ``pa_mpvpe_mm``, ``pa_mesh_auc`` (NaN when V != V'), and
        ``f@<t>mm``, ``pa_f@<t>mm`` for every threshold, floats (F-scores in [0, 1]).
    """
    check_choice(pck, PCK_PRESETS, name="pck")
    pred = float_tensor(pred_verts, "pred_verts")
    gt = float_tensor(gt_verts, "gt_verts").to(pred)
    b = check_shape(pred, "B V 3", name="pred_verts")["B"]
    check_shape(gt, f"{b} V 3", name="gt_verts",
                hint="one GT mesh per predicted mesh, in the same order.")
    check_finite(pred, name="pred_verts")
    check_finite(gt, name="gt_verts")
    if not len(thresholds) or not all(t > 0 for t in thresholds):
        raise ValueError(f"thresholds: need one or more values > 0 (meters), got {thresholds}.")
    scores: dict[str, float] = {}
    if pred.shape[1] == gt.shape[1]:
        aligned = pa_align(pred, gt, reflection=True)
        for prefix, moved in (("", pred), ("pa_", aligned)):
            errors = joint_errors(moved, gt)
            scores[f"{prefix}mpvpe_mm"] = 1000 * float(errors.mean(0).mean())
            scores[f"{prefix}mesh_auc"] = pck_curve(errors, preset=pck).auc
    else:
        if pred_joints is None or gt_joints is None:
            raise ValueError(
                f"pred_joints/gt_joints: pred_verts has {pred.shape[1]} vertices per mesh and "
                f"gt_verts {gt.shape[1]}: pass the joints, the alignment is fitted on them.")
        kp_pred = float_tensor(pred_joints, "pred_joints").to(pred)
        kp_gt = float_tensor(gt_joints, "gt_joints").to(pred)
        check_shape(kp_pred, f"{b} 21 3", name="pred_joints")
        check_shape(kp_gt, f"{b} 21 3", name="gt_joints")
        aligned = pa_align(kp_pred, kp_gt, reflection=True, apply_to=pred)
        scores.update({k: math.nan for k in ("mpvpe_mm", "mesh_auc", "pa_mpvpe_mm",
                                             "pa_mesh_auc")})
    for prefix, moved in (("", pred), ("pa_", aligned)):
        values = f_score(moved, gt, list(thresholds)).tolist()
        scores.update({f"{prefix}f@{threshold_name(t)}": v for t, v in zip(thresholds, values)})
    return scores
