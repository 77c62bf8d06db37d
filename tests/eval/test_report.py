import json

import pytest
import torch
from rich.console import Console

from handkit.eval.report import EvalReport, evaluate_keypoints


def _scene():
    g = torch.Generator().manual_seed(0)
    gt = 0.05 * torch.randn(4, 21, 3, generator=g, dtype=torch.float64)
    pred = gt.clone()
    pred[..., 0] += 0.010  # every joint 10 mm off along x: MPJPE 10 mm, PA-MPJPE 0
    return pred, gt


def test_evaluate_keypoints_values():
    pred, gt = _scene()
    report = evaluate_keypoints(pred, gt, name="toy")
    assert report.metrics["mpjpe_mm"] == pytest.approx(10.0)
    assert report.metrics["pa_mpjpe_mm"] == pytest.approx(0.0, abs=1e-9)
    # After Procrustes the errors are round-off (0 or ~1e-17..1e-9 m, depending on the BLAS
    # path): the 0-mm threshold is a tie, every later one (>= 0.505 mm) holds for all joints.
    # So PCK is 1 from the second threshold on, and the trapezoid loses at most half of the
    # first interval: 1 - 0.5/99 <= PA-AUC <= 1.
    assert report.curves["pa_pck"]["pck"][1:] == [1.0] * 99
    assert 1 - 0.5 / 99 - 1e-12 <= report.metrics["pa_auc"] <= 1 + 1e-12
    # 10 mm is threshold ~19.8 of 99 (spacing 50/99): PCK is 1 from 10.10 mm, so the area is
    # 50 − 10.10 plus half the step interval, i.e. AUC = (99 − 20 + 0.5) / 99.
    assert report.metrics["auc"] == pytest.approx((99 - 20 + 0.5) / 99)
    assert report.curves["pck"]["unit"] == "mm" and len(report.curves["pck"]["pck"]) == 100


def test_mesh_metrics_and_json_round_trip(tmp_path):
    pred, gt = _scene()
    verts = torch.cat([gt, gt + 0.002], 1)
    report = evaluate_keypoints(pred, gt, pred_verts=2 * verts + 1, gt_verts=verts)
    assert report.metrics["pa_mpvpe_mm"] == pytest.approx(0.0, abs=1e-9)
    assert report.metrics["pa_f@5mm"] == pytest.approx(1.0)
    path = report.write_json(tmp_path / "out" / "report.json")
    data = json.loads(path.read_text())
    assert data["metrics"]["mpjpe_mm"] == pytest.approx(10.0)
    back = EvalReport.read_json(path)
    assert back.metrics == pytest.approx(report.metrics)


def test_table_and_rich_print():
    report = EvalReport("demo", {"mpjpe_mm": 12.3456, "auc": float("nan")})
    text = report.table()
    assert "demo" in text and "mpjpe_mm" in text and "12.3456" in text and "nan" in text
    console = Console(record=True, width=80)
    report.print(console)
    assert "12.3456" in console.export_text()


def test_read_json_errors_name_file_and_field(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match=r"bad.json: not valid JSON"):
        EvalReport.read_json(bad)
    bad.write_text('{"name": "x"}')
    with pytest.raises(ValueError, match=r"bad.json: field 'metrics' missing"):
        EvalReport.read_json(bad)


def test_bad_arguments():
    pred, gt = _scene()
    with pytest.raises(ValueError, match=r"pck: unknown value 'auc'"):
        evaluate_keypoints(pred, gt, pck="auc")
    with pytest.raises(ValueError, match=r"pred_verts/gt_verts: pass both"):
        evaluate_keypoints(pred, gt, pred_verts=gt)
