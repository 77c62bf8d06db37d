import json
import math

import pytest

from handkit.experiments.pretraining_bench import (SPECS, aggregate, finetune_epochs,
                                                   format_table, make_spec, write_results)


def _cell(variant, fraction, seed, pa, mpjpe=30.0, auc=0.5):
    return {"variant": variant, "fraction": fraction, "seed": seed,
            "metrics": {"mpjpe_mm": mpjpe, "pa_mpjpe_mm": pa, "auc": auc, "pa_auc": auc}}


def test_aggregate_mean_and_sample_std_per_variant_and_fraction():
    cells = [_cell("none", 0.1, 0, 10.0), _cell("none", 0.1, 1, 14.0),
             _cell("simhand", 0.1, 0, 9.0, auc=0.2), _cell("simhand", 0.1, 1, 9.0, auc=0.4),
             _cell("none", 1.0, 0, 7.0)]
    rows = aggregate(cells)
    assert [(r["variant"], r["fraction"], r["n"]) for r in rows] == [
        ("none", 0.1, 2), ("simhand", 0.1, 2), ("none", 1.0, 1)]
    none = rows[0]
    assert none["mean"]["pa_mpjpe_mm"] == 12.0
    assert none["std"]["pa_mpjpe_mm"] == pytest.approx(math.sqrt(8))  # ddof 1: 2²+2² over 1
    assert rows[1]["std"]["pa_mpjpe_mm"] == 0.0
    assert rows[1]["mean"]["auc"] == pytest.approx(0.3)
    assert math.isnan(rows[2]["std"]["mpjpe_mm"])  # one seed: no spread


def test_table_formats_mean_pm_std_and_change_against_none():
    rows = aggregate([_cell("none", 0.1, 0, 10.0), _cell("none", 0.1, 1, 14.0),
                      _cell("simhand", 0.1, 0, 9.0), _cell("simhand", 0.1, 1, 9.0),
                      _cell("peclr", 1.0, 0, 8.0, auc=0.61234)])
    lines = format_table(rows).splitlines()
    assert lines[0].startswith("| labels | pre-training | seeds | MPJPE (mm) | PA-MPJPE (mm)")
    assert lines[2] == "| 0.1 | none | 2 | 30.0 ± 0.0 | 12.0 ± 2.8 | 0.500 ± 0.000 | " \
                       "0.500 ± 0.000 | +0.0 % |"
    assert "| 0.1 | simhand | 2 |" in lines[3] and lines[3].endswith("| -25.0 % |")  # 9 vs 12
    # fraction 1.0 has no "none" row and one seed: no ± and no relative change
    assert lines[4] == "| 1 | peclr | 1 | 30.0 | 8.0 | 0.612 | 0.612 | — |"


@pytest.mark.parametrize("n, fraction, batch, steps, epochs", [
    (800, 1.0, 32, 60, 3),  # 700 training images -> 21 full batches -> ceil(60 / 21)
    (800, 0.1, 32, 60, 30),  # 70 -> 2 batches
    (160, 0.25, 16, 8, 4),  # 140 * 0.25 = 35 -> 2 batches (last partial one dropped)
    (16, 0.1, 32, 5, 5),  # 14 * 0.1 -> 1 image -> one (partial) batch per epoch
])
def test_finetune_epochs_give_the_step_budget(n, fraction, batch, steps, epochs):
    assert finetune_epochs(n, fraction, batch, steps) == epochs


def test_make_spec_replaces_only_what_is_asked():
    spec = make_spec("full", variants=("simclr", "simhand_w"), pretrain_steps=900,
                     finetune_steps=600)
    assert spec.variants == ("simclr", "simhand_w") and spec.pretrain.steps == 900
    assert spec.finetune_steps == 600 and SPECS["full"].finetune_steps != 600
    assert spec.fractions == SPECS["full"].fractions and SPECS["full"].pretrain.steps != 900
    assert spec.pretrain.batch_size == SPECS["full"].pretrain.batch_size
    with pytest.raises(ValueError, match=r"variants: unknown \['byol'\]"):
        make_spec("full", variants=("simclr", "byol"))
    with pytest.raises(ValueError, match="fractions: expected values in"):
        make_spec("quick", fractions=(0.0,))
    with pytest.raises(ValueError, match="finetune_steps: expected >= 1"):
        make_spec("quick", finetune_steps=0)


def test_write_results_files(tmp_path):
    rows = aggregate([_cell(v, f, s, 10.0 + s) for v in ("none", "simclr") for f in (0.1, 1.0)
                      for s in (0, 1)])
    result = {"command": "python benchmarks/pretraining.py --quick", "spec": {"k": 1},
              "timing": {"total": 90.0}, "summary": rows, "cells": []}
    js, md, png = write_results(tmp_path, result)
    assert json.loads(js.read_text())["summary"][0]["mean"]["pa_mpjpe_mm"] == 10.5
    text = md.read_text()
    assert "`python benchmarks/pretraining.py --quick`" in text and "total 1.5 min" in text
    assert "| 0.1 | simclr | 2 |" in text and png.stat().st_size > 5000


@pytest.mark.slow
def test_quick_benchmark_end_to_end_and_resume(tmp_path):
    from handkit.experiments import pretraining_bench as bench
    from handkit.experiments.pipeline import PretrainSpec, WorldSpec

    tiny = bench.BenchSpec(WorldSpec(labeled=48, test=16, pool=64, k=2,
                                     test_appearance="shifted", workers=1),
                           PretrainSpec(steps=2, epochs=1, batch_size=8, threads=1,
                                        overrides={"data.num_workers": 0}),
                           finetune_steps=2, finetune_batch=8, fractions=(0.5, 1.0),
                           variants=("none", "simhand_w"), eval_gallery=2)
    result = bench.run_benchmark(tmp_path, tiny, seeds=2, jobs=2, progress=False)
    assert len(result["cells"]) == 8 and len(result["summary"]) == 4
    assert all(r["n"] == 2 and math.isfinite(r["std"]["pa_mpjpe_mm"]) for r in result["summary"])
    assert (tmp_path / "results.png").stat().st_size > 5000
    assert json.loads((tmp_path / "data/test/meta.json").read_text())["args"]["appearance"] \
        == "shifted"
    kept = tmp_path / "finetune/none_frac0.5_seed0/finetune/checkpoints"
    assert [p.name for p in kept.iterdir()] == ["last.ckpt"]
    stamp = (tmp_path / "finetune/none_frac0.5_seed0/metrics.json").stat().st_mtime_ns
    again = bench.run_benchmark(tmp_path, tiny, seeds=2, jobs=2, progress=False)
    assert again["summary"] == result["summary"]  # resumed: nothing was recomputed
    assert (tmp_path / "finetune/none_frac0.5_seed0/metrics.json").stat().st_mtime_ns == stamp


def test_format_probe_groups_seeds_and_lists_references():
    from handkit.experiments.pretraining_bench import format_probe

    table = format_probe({"encoders": {"none_seed0": 30.0, "none_seed1": 32.0,
                                       "simhand_w_seed0": 25.0},
                          "reference": {"mean_pose": 31.5, "true_2d_pose": 12.0,
                                        "oracle": 6.9}})
    lines = table.splitlines()
    assert "| none | 2 | 31.0 ± 1.4 |" in lines  # sample std of (30, 32) = sqrt(2)
    assert "| simhand_w | 1 | 25.0 |" in lines
    assert lines[-3].endswith("| 31.5 |") and lines[-2].endswith("| 12.0 |")
    assert lines[-1].endswith("| 6.9 |")
