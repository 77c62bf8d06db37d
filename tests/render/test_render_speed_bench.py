"""benchmarks/render_speed.py --quick runs every renderer on both meshes and prints its table.

The run fails (exit 1) when the windowed soft rasteriser and the dense reference disagree on an
image or a vertex gradient, so this is also an end-to-end check of windowing on real meshes.
"""

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "render_speed.py"


@pytest.mark.slow
def test_quick_render_benchmark_prints_the_table(capsys, monkeypatch):
    spec = importlib.util.spec_from_file_location("render_speed", BENCH)
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "render_speed", bench)  # dataclasses look the module up
    spec.loader.exec_module(bench)
    assert bench.main(["--quick", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "| mesh | px | output | renderer | s / image (f+b) | CPU s / image | peak MiB | load | note |" in out
    rows = [line for line in out.splitlines() if line.startswith("| ") and " 32 | both |" in line]
    renderers = {line.split(" | ")[3] for line in rows}
    assert {"soft", "dense", "hard"} <= renderers
    assert sum("vs soft: image" in line for line in rows) == 2  # dense checked on both meshes
    assert not any("FAIL" in line for line in rows)
