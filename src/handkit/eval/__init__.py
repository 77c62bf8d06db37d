"""handkit.eval: metrics (MPJPE, PA-MPJPE, PCK/AUC, MRRPE, PA-MPVPE, F-score) and reports."""

from handkit.eval.mesh_metrics import mesh_scores
from handkit.eval.metrics import (
    PCK_PRESETS,
    auc,
    f_score,
    joint_errors,
    mpjpe,
    mrrpe,
    pa_align,
    pa_mpjpe,
    pa_mpvpe,
    pck_curve,
)

__all__ = ["PCK_PRESETS", "auc", "f_score", "joint_errors", "mesh_scores", "mpjpe", "mrrpe",
           "pa_align", "pa_mpjpe", "pa_mpvpe", "pck_curve"]
