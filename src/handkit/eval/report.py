"""A small evaluation report: named scalar metrics + PCK curves, printed as a table, saved as JSON."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from handkit.eval.mesh_metrics import mesh_scores
from handkit.eval.metrics import (
    PCK_PRESETS,
    PCKCurve,
    joint_errors,
    mpjpe,
    pa_mpjpe,
    pck_curve,
)
from handkit.geometry.align import procrustes
from handkit.utils.check import check_choice
from handkit.utils import files

__all__ = ["EvalReport", "evaluate_keypoints"]


@dataclass
class EvalReport:
    """Scalar metrics (name → value; the unit is in the name, e.g. ``pa_mpjpe_mm``) and curves.

    `curves` maps a name to {"thresholds": [...], "pck": [...], "unit": str, "inclusive": bool}.
    """

    name: str
    metrics: dict[str, float] = field(default_factory=dict)
    curves: dict[str, dict[str, Any]] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def add_curve(self, key: str, curve: PCKCurve) -> None:
        self.curves[key] = {"thresholds": curve.thresholds.tolist(), "pck": curve.pck.tolist(),
                            "unit": curve.unit, "inclusive": curve.inclusive}

    def table(self) -> str:
        """Plain-text table, one metric per row."""
        width = max([len("metric")] + [len(k) for k in self.metrics])
        lines = [f"{self.name}", f"{'metric':<{width}}  value", f"{'-' * width}  ---------"]
        lines += [f"{k:<{width}}  {_fmt(v)}" for k, v in self.metrics.items()]
        return "\n".join(lines)

    def print(self, console: Any = None) -> None:
        """Print a rich table (falls back to `table()` when rich is unavailable)."""
        try:
            from rich.console import Console
            from rich.table import Table
        except ImportError:  # pragma: no cover - rich is a pinned dependency
            print(self.table())
            return
        table = Table(title=self.name)
        table.add_column("metric")
        table.add_column("value", justify="right")
        for k, v in self.metrics.items():
            table.add_row(k, _fmt(v))
        (console or Console()).print(table)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "metrics": self.metrics, "curves": self.curves,
                "meta": self.meta}

    def write_json(self, path: str | Path) -> Path:
        """Write `to_dict()` as JSON (NaN written as null); returns the path."""
        clean = {k: (None if isinstance(v, float) and math.isnan(v) else v)
                 for k, v in self.metrics.items()}
        return files.write_json(path, {**self.to_dict(), "metrics": clean}, indent=2)

    @classmethod
    def read_json(cls, path: str | Path) -> "EvalReport":
        """Read a report written by `write_json` (ValueError naming the file and field)."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not valid JSON ({err}).") from None
        if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
            raise ValueError(f"{path}: field 'metrics' missing or not an object.")
        metrics = {k: float("nan") if v is None else float(v) for k, v in data["metrics"].items()}
        return cls(str(data.get("name", path.stem)), metrics, data.get("curves", {}),
                   data.get("meta", {}))


def _fmt(v: float) -> str:
    return "nan" if math.isnan(v) else f"{v:.4f}"


def evaluate_keypoints(pred: Any, gt: Any, valid: Any = None, *, pck: str = "freihand",
                       pred_verts: Any = None, gt_verts: Any = None,
                       name: str = "evaluation") -> EvalReport:
    """The usual hand metrics in one report (FreiHAND-style).

    Args:
        pred: (B, 21, 3) float, meters, camera frame, handkit order.
        gt: (B, 21, 3) float, meters.
        valid: optional (B, 21) bool.
        pck: a `PCK_PRESETS` name for AUC / PA-AUC.
        pred_verts, gt_verts: optional (B, V, 3) and (B, V', 3) float, meters, camera frame:
            adds FreiHAND's mesh scores (`eval.mesh_metrics.mesh_scores`): ``mpvpe_mm``,
            ``mesh_auc``, ``pa_mpvpe_mm``, ``pa_mesh_auc`` (NaN if V != V'), ``f@5mm``,
            ``f@15mm``, ``pa_f@5mm``, ``pa_f@15mm`` (the leaderboard's: vertices aligned on
            themselves, or on the joints `pred`/`gt` when V != V').
        name: the report's title.

    Returns:
        `EvalReport` with ``mpjpe_mm``, ``pa_mpjpe_mm``, ``auc``, ``pa_auc`` (and mesh scores).
    """
    check_choice(pck, PCK_PRESETS, name="pck")
    report = EvalReport(name, meta={"pck_preset": pck, "num_samples": int(len(pred))})
    report.metrics["mpjpe_mm"] = 1000 * float(mpjpe(pred, gt, valid))
    report.metrics["pa_mpjpe_mm"] = 1000 * float(pa_mpjpe(pred, gt, valid))
    curve = pck_curve(joint_errors(pred, gt), preset=pck, valid=valid)
    pa_curve = pck_curve(joint_errors(procrustes(pred, gt, valid), gt), preset=pck, valid=valid)
    report.metrics["auc"], report.metrics["pa_auc"] = curve.auc, pa_curve.auc
    report.add_curve("pck", curve)
    report.add_curve("pa_pck", pa_curve)
    if (pred_verts is None) != (gt_verts is None):
        raise ValueError("pred_verts/gt_verts: pass both or neither.")
    if pred_verts is not None:
        report.metrics.update(mesh_scores(pred_verts, gt_verts, pred_joints=pred, gt_joints=gt,
                                          pck=pck))
    return report
