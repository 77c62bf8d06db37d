import json

import pytest

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


@pytest.mark.slow
def test_quick_demo_runs_every_stage_and_reports(tmp_path):
    from handkit.experiments.demo import run_demo

    md = run_demo(tmp_path, quick=True, progress=False)
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    text = md.read_text()
    assert "pa_mpjpe_mm" in text and (tmp_path / "eval" / "pck.png").stat().st_size > 1000
    assert "always answering the mean labelled pose" in text
    shipped = json.loads((tmp_path / "eval_shipped" / "metrics.json").read_text())
    assert "checkpoint (the same model" in text
    assert f"{shipped['metrics']['pa_mpjpe_mm']:.1f} mm" in text
    assert (tmp_path / "pretrain" / "encoder_torchvision.pth").is_file()
    assert len(list((tmp_path / "predict").glob("*_overlay.png"))) == 2
    assert metrics  # the evaluation wrote its numbers
    # A second run resumes: every stage finds its output and the report is rewritten.
    assert run_demo(tmp_path, quick=True, progress=False) == md
