"""Scoring fine-tuned predictions on arrays: the standard table, its definitions, meters.

Model-free: running a checkpoint over a dataset is `infer.evaluate`; this module turns its
arrays into the FreiHAND-style table (`score_predictions`) with every metric defined
(`DEFINITIONS`).

**From model units to meters** (`to_meters`). A model's 3D may be in units of a bone
(`models.prediction.parse_unit`): camera-frame 3D (rn25d: middle MCP–PIP units) is multiplied by
the sample's ``scale`` (FreiHAND gives ``evaluation_scale.json`` as a test input) or, without
one, by the ground-truth length of that bone. Root-relative 3D (detnet: wrist–middle-MCP units)
is scaled by the ground-truth bone and placed at the ground-truth wrist (minimal-hand's
``global_align``), so its "unaligned" MPJPE is root-and-scale aligned by construction.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from handkit.eval.metrics import PCK_PRESETS, joint_errors, mpjpe, pck_curve
from handkit.eval.report import EvalReport, evaluate_keypoints
from handkit.geometry.align import align_root_scale, procrustes
from handkit.models.prediction import FRAMES, parse_unit
from handkit.utils.check import check_choice

__all__ = ["score_predictions", "to_meters", "summary_lines", "DEFINITIONS"]

DEFINITIONS = {
    "mpjpe_mm": "mean Euclidean joint error in mm, camera frame, no alignment (FreiHAND "
                "leaderboard 'unaligned'; detnet: after GT root + scale, see docs)",
    "pa_mpjpe_mm": "mean joint error in mm after a per-hand similarity Procrustes alignment "
                   "(rotation, translation, scale) on the GT (FreiHAND leaderboard 'aligned')",
    "rr_mpjpe_mm": "root-relative: mean joint error in mm after moving the predicted wrist onto "
                   "the GT wrist",
    "rs_mpjpe_mm": "root + scale aligned (minimal-hand global_align): wrist onto the GT wrist, "
                   "scaled so wrist-middle-MCP matches the GT, no rotation",
    "auc": "area under the PCK curve of the unaligned errors, normalised by the threshold "
           "range (preset thresholds, see 'pck')",
    "pa_auc": "the same for the Procrustes-aligned errors",
    "pck@20mm": "fraction of joints within 20 mm (inclusive), unaligned",
    "pa_pck@20mm": "fraction of joints within 20 mm (inclusive), Procrustes-aligned",
    "mpjpe_2d_px": "mean 2D joint error in pixels of the original image",
    "mpvpe_mm": "mean vertex error in mm, no alignment (FreiHAND mesh_mean3d; NaN when the "
                "predicted mesh's vertex count differs from GT's)",
    "pa_mpvpe_mm": "mean vertex error in mm after the similarity fitted on the vertices, "
                   "mirror allowed (FreiHAND mesh_al_mean3d)",
    "f@5mm": "F-score at 5 mm, nearest vertices both ways, no alignment (FreiHAND f_score_5)",
    "f@15mm": "F-score at 15 mm, no alignment (FreiHAND f_score_15)",
    "pa_f@5mm": "F-score at 5 mm after alignment (vertices on vertices, or the joints' "
                "similarity for another topology; the leaderboard's f_al_score_5)",
    "pa_f@15mm": "F-score at 15 mm after alignment (the leaderboard's f_al_score_15)",
}


def to_meters(xyz: np.ndarray, gt: np.ndarray, scale: np.ndarray | None, *, unit: str,
              frame: str, points: np.ndarray | None = None) -> np.ndarray:
    """A model's 3D → meters, camera frame (module docstring).

    Args:
        xyz: (B, 21, 3) model output in `unit` and `frame` (`models.prediction`).
        gt: (B, 21, 3) meters, camera frame. scale: (B,) meters (NaN: unknown) or None.
        unit: "m" or "bone:A-B". frame: "camera" or "root_relative".
        points: optional (B, P, 3) more points of the same hands in `unit` and `frame` (the
            model's vertices): converted by the same map as the joints (scaled alike, and for
            root-relative 3D moved with the predicted wrist onto the GT wrist) and returned
            instead of the joints.

    Returns:
        (B, 21, 3) joints, or (B, P, 3) `points`, meters, camera frame.
    """
    check_choice(frame, FRAMES, name="frame")
    bone = parse_unit(unit)
    if bone is None:
        gt_bone = np.ones(len(xyz))
    else:
        gt_bone = np.linalg.norm(gt[:, bone[1]] - gt[:, bone[0]], axis=-1)
    out = xyz if points is None else points
    if frame == "camera":
        s = gt_bone if scale is None or bone is None else np.where(np.isfinite(scale), scale,
                                                                     gt_bone)
        return out * s[:, None, None]
    return (out - xyz[:, :1]) * gt_bone[:, None, None] + gt[:, :1]


def score_predictions(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray,
                      uv_pred: np.ndarray | None = None, uv_gt: np.ndarray | None = None, *,
                      pred_verts: np.ndarray | None = None, gt_verts: np.ndarray | None = None,
                      preset: str = "freihand", name: str = "evaluation") -> EvalReport:
    """The standard table from predictions already in meters (`DEFINITIONS` of every metric).

    Args:
        pred, gt: (B, 21, 3) float, meters, camera frame, handkit order.
        valid: (B, 21) bool.
        uv_pred, uv_gt: optional (B, 21, 2) float pixels: adds ``mpjpe_2d_px``.
        pred_verts, gt_verts: optional (B, V, 3) and (B, V', 3) float, meters, camera frame:
            adds FreiHAND's mesh scores (`eval.report.evaluate_keypoints`).
        preset: a `PCK_PRESETS` name.
    """
    check_choice(preset, PCK_PRESETS, name="preset")
    pred_t, gt_t, valid_t = (torch.as_tensor(np.ascontiguousarray(x)) for x in (pred, gt, valid))
    valid_t = valid_t.bool()
    report = evaluate_keypoints(pred_t, gt_t, valid_t, pck=preset, name=name,
                                pred_verts=pred_verts, gt_verts=gt_verts)
    m = report.metrics
    m["rr_mpjpe_mm"] = 1000 * float(mpjpe(pred_t - pred_t[:, :1], gt_t - gt_t[:, :1], valid_t))
    m["rs_mpjpe_mm"] = 1000 * float(mpjpe(align_root_scale(pred_t, gt_t), gt_t, valid_t))
    aligned = procrustes(pred_t, gt_t, valid_t)
    for key, p in (("pck@20mm", pred_t), ("pa_pck@20mm", aligned)):
        m[key] = float(pck_curve(joint_errors(p, gt_t), thresholds=[0.0, 20.0], unit="mm",
                                 inclusive=True, valid=valid_t).pck[-1])
    if uv_pred is not None and uv_gt is not None:
        err = np.linalg.norm(np.asarray(uv_pred) - np.asarray(uv_gt), axis=-1)
        m["mpjpe_2d_px"] = float(err[np.asarray(valid, dtype=bool)].mean())
    spec = PCK_PRESETS[preset]
    report.meta.update({
        "definitions": {k: v for k, v in DEFINITIONS.items() if k in m},
        "pck": {"preset": preset, "thresholds": f"{spec.thresholds[0]:g}-{spec.thresholds[-1]:g} "
                f"{spec.unit}, {len(spec.thresholds)} steps",
                "comparison": "d <= t" if spec.inclusive else "d < t"}})
    return report


def summary_lines(report: EvalReport) -> list[str]:
    """The definitions of the metrics in `report`, one line each (printed under the table)."""
    defs: dict[str, Any] = report.meta.get("definitions", {})
    pck = report.meta.get("pck", {})
    lines = [f"  {k}: {defs[k]}" for k in report.metrics if k in defs]
    if pck:
        lines.append(f"  PCK/AUC thresholds: {pck['thresholds']} ({pck['comparison']}), "
                     f"preset {pck['preset']}")
    lines.append(f"  crop: {report.meta.get('crop')}; skipped samples: "
                 f"{report.meta.get('skipped', 0)}")
    # The skips' reasons (file and field), as every long run lists them at its end.
    lines.extend(f"    skipped {reason}" for reason in report.meta.get("skipped_first", []))
    return lines
