"""evaluate: the standard table (exact cases), bone units → meters, the end-to-end run and files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from handkit.eval.scoring import score_predictions, summary_lines, to_meters
from handkit.infer.evaluate import evaluate
from handkit.models.registry import ModelConfig, build_model


def _hands(b: int = 5) -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.normal(0, 0.04, (b, 21, 3)) + [0.0, 0.0, 0.6]


def test_perfect_prediction_scores_zero_error_and_auc_one():
    gt = _hands()
    valid = np.ones((5, 21), bool)
    uv = np.random.default_rng(2).uniform(0, 200, (5, 21, 2))
    m = score_predictions(gt.copy(), gt, valid, uv, uv.copy()).metrics
    for key in ("mpjpe_mm", "pa_mpjpe_mm", "rr_mpjpe_mm", "rs_mpjpe_mm", "mpjpe_2d_px"):
        assert m[key] == pytest.approx(0.0, abs=1e-6), key
    for key in ("auc", "pck@20mm", "pa_pck@20mm"):
        assert m[key] == pytest.approx(1.0), key
    # Procrustes leaves 0 or ~1e-17..1e-9 m of round-off depending on the BLAS path, so the
    # inclusive PCK at t = 0 is a tie: at most the first trapezoid, half a step in 99, is lost.
    assert 1 - 0.5 / 99 - 1e-12 <= m["pa_auc"] <= 1 + 1e-12


def test_a_10mm_shift_is_scored_by_hand():
    gt = _hands()
    pred = gt + [0.010, 0.0, 0.0]
    valid = np.ones((5, 21), bool)
    report = score_predictions(pred, gt, valid)
    m = report.metrics
    assert m["mpjpe_mm"] == pytest.approx(10.0, abs=1e-6)
    assert m["rr_mpjpe_mm"] == pytest.approx(0.0, abs=1e-6)
    assert m["rs_mpjpe_mm"] == pytest.approx(0.0, abs=1e-6)
    assert m["pa_mpjpe_mm"] == pytest.approx(0.0, abs=1e-5)
    assert m["pck@20mm"] == 1.0
    # FreiHAND: thresholds 50·k/99 mm, PCK(t) = [10 <= t]; t_20 = 10.10 is the first hit.
    t19, t20 = 50 * 19 / 99, 50 * 20 / 99
    assert m["auc"] == pytest.approx(1 - (t19 + t20) / 2 / 50, abs=1e-9)
    assert "leaderboard" in report.meta["definitions"]["mpjpe_mm"]
    assert report.meta["pck"]["comparison"] == "d <= t"


def test_invalid_joints_are_ignored():
    gt = _hands()
    pred = gt.copy()
    pred[:, 3] += 1.0  # a wild joint, marked invalid
    valid = np.ones((5, 21), bool)
    valid[:, 3] = False
    assert score_predictions(pred, gt, valid).metrics["mpjpe_mm"] == pytest.approx(0, abs=1e-6)


def test_bone_units_to_meters():
    gt = _hands(2)
    rn = {"unit": "bone:middle_mcp-middle_pip", "frame": "camera"}
    xyz = np.ones((2, 21, 3))
    bone = np.linalg.norm(gt[:, 10] - gt[:, 9], axis=-1)  # middle MCP–PIP
    assert np.allclose(to_meters(xyz, gt, np.array([0.03, 0.05]), **rn),
                       xyz * np.array([0.03, 0.05])[:, None, None])
    assert np.allclose(to_meters(xyz, gt, np.array([np.nan, 0.05]), **rn)[0], bone[0])
    dn = {"unit": "bone:wrist-middle_mcp", "frame": "root_relative"}
    rel = np.zeros((2, 21, 3)) + 0.3  # the wrist's read-out need not be 0: it is subtracted
    rel[:, 9] = [0.3, -0.7, 0.3]
    out = to_meters(rel, gt, None, **dn)
    assert np.allclose(out[:, 0], gt[:, 0])
    assert np.allclose(np.linalg.norm(out[:, 9] - out[:, 0], axis=-1),
                       np.linalg.norm(gt[:, 9] - gt[:, 0], axis=-1))
    assert np.allclose(to_meters(xyz, gt, None, unit="m", frame="camera"), xyz)  # meters stay


def test_vertices_to_meters_follow_the_joints_map():
    """points= are moved exactly as the joints: a vertex sitting on a joint lands on it."""
    gt = _hands(2)
    g = np.random.default_rng(3)
    xyz = g.normal(size=(2, 21, 3))
    verts = np.concatenate([xyz[:, [0, 9, 20]], g.normal(size=(2, 5, 3))], axis=1)
    for unit, frame, scale in (("bone:middle_mcp-middle_pip", "camera", np.array([0.03, 0.05])),
                               ("bone:wrist-middle_mcp", "root_relative", None),
                               ("m", "root_relative", None)):
        joints = to_meters(xyz, gt, scale, unit=unit, frame=frame)
        out = to_meters(xyz, gt, scale, unit=unit, frame=frame, points=verts)
        assert out.shape == (2, 8, 3)
        np.testing.assert_allclose(out[:, :3], joints[:, [0, 9, 20]], atol=1e-12)
        # the rest keep their offsets to the joints, scaled by the same factor
        ratio = np.linalg.norm(out[:, 5] - out[:, 0], axis=-1) / \
            np.linalg.norm(verts[:, 5] - verts[:, 0], axis=-1)
        ref = np.linalg.norm(joints[:, 9] - joints[:, 0], axis=-1) / \
            np.linalg.norm(xyz[:, 9] - xyz[:, 0], axis=-1)
        np.testing.assert_allclose(ratio, ref, rtol=1e-12)


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from handkit.data.synth.runner import synthesize

    return synthesize("freihand", tmp_path_factory.mktemp("fh"), 16, seed=4, size=128,
                      progress=False)


def test_evaluate_end_to_end_writes_the_table_json_and_figures(synth, tmp_path):
    torch.manual_seed(0)
    net = build_model(ModelConfig(name="rn25d", backbone="resnet18", image_size=32)).eval()
    report = evaluate(net, synth, out_dir=tmp_path, gallery=3, progress=False)
    assert report.meta["crop"] == "two_pass" and report.meta["num_samples"] == 2
    assert set(report.metrics) >= {"mpjpe_mm", "pa_mpjpe_mm", "auc", "pa_auc", "pck@20mm"}
    data = json.loads((tmp_path / "metrics.json").read_text())
    assert data["metrics"]["pa_mpjpe_mm"] == pytest.approx(report.metrics["pa_mpjpe_mm"])
    for png in ("pck.png", "gallery.png"):
        assert (tmp_path / png).read_bytes()[:4] == b"\x89PNG"
    assert any("Procrustes" in line for line in summary_lines(report))
    gt_box = evaluate(net, synth, crop="gt_box", gallery=0, progress=False)
    assert gt_box.meta["crop"] == "gt_box"


def test_evaluate_bad_arguments_are_named(synth, tmp_path):
    net = build_model(ModelConfig(name="rn25d", backbone="resnet18", image_size=32))
    with pytest.raises(ValueError, match="preset"):
        evaluate(net, synth, preset="coco", progress=False)
    with pytest.raises(FileNotFoundError):
        evaluate(net, tmp_path / "missing", progress=False)
    with pytest.raises(FileNotFoundError, match="checkpoint"):
        evaluate(tmp_path / "none.ckpt", synth, progress=False)
