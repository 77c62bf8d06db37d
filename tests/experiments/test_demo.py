import json

import numpy as np
import pytest

from handkit.experiments.probe import HandSet, mean_pose_report
from handkit.experiments.report import Report


def test_report_writes_markdown_and_html_with_relative_figures(tmp_path):
    (tmp_path / "figs").mkdir()
    (tmp_path / "figs" / "a.png").write_bytes(b"\x89PNG")
    doc = Report("T <1>")
    doc.table(["metric", "value"], [["mpjpe_mm", 12.345], ["n", 3]])
    doc.figure(tmp_path / "figs" / "a.png", "curve")
    md, page = doc.write(tmp_path)
    text = md.read_text()
    assert "| mpjpe_mm | 12.35 |" in text and "![curve](figs/a.png)" in text
    assert "<h1>T &lt;1&gt;</h1>" in page.read_text() and "src='figs/a.png'" in page.read_text()


def test_report_puts_figures_side_by_side_and_wraps_definitions(tmp_path):
    doc = Report("T")
    doc.figures([(tmp_path / "a.png", "left one"), (tmp_path / "b.png", "right one")])
    doc.definitions({"pa_mpjpe_mm": "word " * 60})
    md, page = doc.write(tmp_path)
    lines = md.read_text().splitlines()
    assert "| left one | right one |" in lines and "| ![left one](a.png) | ![right one](b.png) |" in lines
    definition = [i for i, line in enumerate(lines) if line.startswith("- **pa_mpjpe_mm**")]
    assert len(definition) == 1
    body = lines[definition[0]:definition[0] + 5]
    assert all(len(line) <= 96 for line in body) and body[1].startswith("  word")
    assert page.read_text().count("<figure") == 2 and "display:flex" in page.read_text()


def _hands(xyz):
    n = len(xyz)
    return HandSet(np.zeros((n, 4, 4, 3), np.uint8), np.asarray(xyz, float), np.zeros((n, 21, 2)))


def test_mean_pose_report_is_zero_for_similar_copies_and_positive_otherwise():
    rng = np.random.default_rng(0)
    pose = rng.normal(0, 0.03, (21, 3))
    train = _hands([pose + [0, 0, 0.5], pose + [0.1, 0, 0.6]])  # same pose, two places
    angle = 0.7
    R = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    test = _hands([1.3 * pose @ R.T + [0, 0.2, 0.7]])  # rotated, scaled, moved copy
    report = mean_pose_report(train, test)
    assert report.metrics["pa_mpjpe_mm"] == pytest.approx(0, abs=1e-6)
    other = _hands([rng.normal(0, 0.03, (21, 3)) + [0, 0, 0.5]])
    assert mean_pose_report(train, other).metrics["pa_mpjpe_mm"] > 1.0


def test_mean_pose_is_the_procrustes_mean_not_a_blur_of_turned_copies():
    rng = np.random.default_rng(1)
    pose = rng.normal(0, 0.03, (21, 3))
    turns = [np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
             for a in (0.0, 2.0, 4.0)]
    # one pose seen turned three ways: averaging the camera-frame copies would blur it into
    # another shape; the Procrustes mean is the pose itself, so a copy of it scores 0
    train = _hands([pose @ R.T + [0, 0, 0.5] for R in turns])
    report = mean_pose_report(train, _hands([0.8 * pose + [0, 0.1, 0.6]]))
    assert report.metrics["pa_mpjpe_mm"] == pytest.approx(0, abs=1e-6)


@pytest.mark.slow
def test_quick_demo_runs_every_stage_and_reports(tmp_path):
    from handkit.experiments.demo import run_demo

    md = run_demo(tmp_path, quick=True, progress=False)
    evaluation = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    metrics = evaluation["metrics"]
    shipped = json.loads((tmp_path / "eval_shipped" / "metrics.json").read_text())["metrics"]
    text = md.read_text()
    # one table: the demo's model beside both references, the mean pose on aligned rows only
    row = next(line for line in text.splitlines() if line.startswith("| pa_mpjpe_mm |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1:3] == [f"{metrics['pa_mpjpe_mm']:.2f}", f"{shipped['pa_mpjpe_mm']:.2f}"]
    assert float(cells[3]) > 0
    assert next(line for line in text.splitlines() if line.startswith("| mpjpe_mm |")).endswith("| – |")
    assert f"the held-out synthetic test set ({evaluation['meta']['num_samples']} images" in text
    assert (tmp_path / "pa_pck.png").stat().st_size > 1000
    assert (tmp_path / "pretrain" / "encoder_torchvision.pth").is_file()
    for name in ("demo", "shipped"):
        assert len(list((tmp_path / f"predict_{name}").glob("*_overlay.png"))) == 2
    assert "eval_shipped/gallery.png" in text
    first_times = [line for line in text.splitlines() if "| ran |" in line or "| reused" in line]
    assert first_times and all("| ran |" in line for line in first_times)
    # A second run resumes: the four training stages say what they reused.
    assert run_demo(tmp_path, quick=True, progress=False) == md
    reused = [line.split("|")[1].strip() for line in md.read_text().splitlines()
              if "| reused " in line]
    assert reused == ["synthesize the world", "mine similar hands", "pre-train SiMHand-w",
                      "fine-tune RN_25D_wMLPref"]
