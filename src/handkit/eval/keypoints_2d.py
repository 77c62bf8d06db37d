"""S2HAND's 2D report (``traineval_util.save_2d`` + ``draw_util.draw_2d_error_curve``, specs/
mesh.md §2.8): per-joint pixel errors of several 2D sources against the labels, the PCK of all
joints pooled (not per joint first), thresholds 0, 1, …, 49 px, d ≤ t, AUC = trapz / 49."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from handkit.utils.check import check_shape

__all__ = ["PCK_2D_THRESHOLDS", "pooled_pck", "report_2d"]

PCK_2D_THRESHOLDS = np.arange(0, 50, 1.0)
"""0-49 px, the official curve's thresholds."""


def pooled_pck(errors: np.ndarray, thresholds: np.ndarray = PCK_2D_THRESHOLDS
               ) -> tuple[np.ndarray, float]:
    """PCK of every joint pooled, inclusive, and its AUC (trapz / (t_last − t_first)).

    Args:
        errors: (N, J) float px; NaN entries (unlabelled or undetected joints) are left out.
        thresholds: (T,) increasing px.

    Returns:
        (pck (T,) in [0, 1], auc float in [0, 1]).
    """
    check_shape(errors, "N J", name="errors")
    flat = np.asarray(errors, np.float64).ravel()
    flat = flat[np.isfinite(flat)]
    if flat.size == 0:
        raise ValueError("errors: no finite error; the 2D PCK is undefined.")
    pck = (flat[None] <= thresholds[:, None]).mean(1)
    return pck, float(np.trapezoid(pck, thresholds) / (thresholds[-1] - thresholds[0]))


def report_2d(sources: Mapping[str, np.ndarray], gt: np.ndarray) -> dict:
    """Per-source 2D errors against `gt`.

    Args:
        sources: name → (N, 21, 2) px (NaN where the source has no point).
        gt: (N, 21, 2) px (NaN where unlabelled).

    Returns:
        {name: {"mean_px", "per_joint_px" (21,), "pck" (50,), "auc"}} (lists, JSON-ready).
    """
    n = check_shape(gt, "N 21 2", name="gt")["N"]
    out = {}
    for name, uv in sources.items():
        check_shape(uv, f"{n} 21 2", name=name)
        err = np.linalg.norm(np.asarray(uv, np.float64) - gt, axis=-1)
        pck, area = pooled_pck(err)
        with np.errstate(invalid="ignore"):
            per_joint = np.nanmean(np.where(np.isfinite(err), err, np.nan), axis=0)
        out[name] = {"mean_px": float(np.nanmean(err)), "per_joint_px": per_joint.tolist(),
                     "pck": pck.tolist(), "auc": area}
    return out
