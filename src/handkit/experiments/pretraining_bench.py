"""The SiMHand experiment on the synthetic world: every pre-training method at equal compute.

world (labeled set, unlabeled pool of videos, a test set with the **shifted** look, see
docs/synth.md) → mine → pre-train none / SimCLR / PeCLR / SiMHand / SiMHand-w (same encoder,
views, batch, steps; one run per seed) → fine-tune RN_25D_wMLPref from each at every label
fraction (the same number of optimiser steps whatever the fraction) → evaluate on the test set
→ mean ± std over seeds as ``results.md`` / ``results.json`` / ``results.png``.

Runs go to a process pool (`jobs` processes, 1 torch thread and no loader workers each, so
`jobs` = cores fills the machine). Every stage resumes: the world, the mined file, each
encoder and each (variant, fraction, seed) cell's ``metrics.json`` are reused when present;
a killed fine-tune continues from its last checkpoint. Per-epoch checkpoints are deleted once a
cell is evaluated (``last.ckpt`` stays), a pre-training's once its encoder is exported.
Entry point: ``benchmarks/pretraining.py``; results in docs/experiments.md.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from tqdm import tqdm

from handkit.experiments.pipeline import (VARIANTS, FinetuneSpec, PretrainSpec, World, WorldSpec,
                                          finetune_variant, make_world, mine_pool,
                                          pretrain_variant)
from handkit.experiments.probe import encode, knn_pose_probe, load_hands, reference_errors
from handkit.infer.evaluate import evaluate
from handkit.utils.files import write_figure, write_json, write_text

__all__ = ["BenchSpec", "SPECS", "METRICS", "make_spec", "run_benchmark", "run_probe",
           "finetune_epochs", "aggregate", "format_table", "format_probe", "write_results"]

METRICS = {"mpjpe_mm": "MPJPE (mm)", "pa_mpjpe_mm": "PA-MPJPE (mm)", "auc": "AUC",
           "pa_auc": "PA-AUC"}
"""The metrics of the table (keys of `infer.evaluate`'s report) and their column titles."""
_QUIET = {"data.num_workers": 0}  # one process per run: the pool's processes fill the cores


@dataclass
class BenchSpec:
    """Sizes of one benchmark configuration.

    Attributes:
        finetune_steps: optimiser steps of every fine-tune (epochs are derived per fraction).
        finetune_batch: fine-tuning batch size.
        fractions: label fractions of the labeled training split.
    """

    world: WorldSpec
    pretrain: PretrainSpec
    finetune_steps: int
    finetune_batch: int = 32
    fractions: tuple[float, ...] = (0.1, 1.0)
    variants: tuple[str, ...] = tuple(VARIANTS)
    eval_gallery: int = 8
    notes: dict = field(default_factory=dict)


SPECS = {
    "full": BenchSpec(WorldSpec(labeled=800, test=300, pool=3200, k=5, test_appearance="shifted"),
                      PretrainSpec(steps=300, epochs=2, batch_size=32, threads=1,
                                   overrides=_QUIET),
                      finetune_steps=80, fractions=(0.1, 1.0)),
    "quick": BenchSpec(WorldSpec(labeled=160, test=64, pool=480, k=3, test_appearance="shifted"),
                       PretrainSpec(steps=12, epochs=1, batch_size=16, threads=1,
                                    overrides=_QUIET),
                       finetune_steps=8, finetune_batch=16, fractions=(0.25, 1.0)),
}


def finetune_epochs(n_labeled: int, fraction: float, batch_size: int, steps: int) -> int:
    """Epochs that give about `steps` optimiser steps on `fraction` of a FreiHAND-layout set of
    `n_labeled` images (its training split holds n − n // 8; the subset keeps round(f·n) ≥ 1;
    the loader drops the last partial batch when there is more than one batch)."""
    n = max(1, round(fraction * (n_labeled - n_labeled // 8)))
    batches = n // batch_size if n > batch_size else 1
    return max(1, math.ceil(steps / batches))


def aggregate(cells: list[dict], metrics: tuple[str, ...] = tuple(METRICS)) -> list[dict]:
    """Mean and sample standard deviation (ddof = 1; NaN for one seed) of each metric per
    (variant, fraction), in the order the pairs first appear in `cells`.

    Args:
        cells: dicts with "variant", "fraction" and "metrics" ({name: value}).

    Returns:
        dicts with variant, fraction, n (seeds), mean {name: float}, std {name: float}.
    """
    groups: dict[tuple[str, float], list[dict]] = {}
    for cell in cells:
        groups.setdefault((cell["variant"], cell["fraction"]), []).append(cell["metrics"])
    rows = []
    for (variant, fraction), runs in groups.items():
        values = {m: np.array([float(r[m]) for r in runs]) for m in metrics}
        rows.append({"variant": variant, "fraction": fraction, "n": len(runs),
                     "mean": {m: float(v.mean()) for m, v in values.items()},
                     "std": {m: float(v.std(ddof=1)) if len(v) > 1 else float("nan")
                             for m, v in values.items()}})
    return rows


def _pm(mean: float, std: float, digits: int) -> str:
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if math.isfinite(std) else f"{mean:.{digits}f}"


def format_table(rows: list[dict]) -> str:
    """The Markdown table of `aggregate` rows: one line per (fraction, variant), mean ± std,
    mm with 1 decimal, AUC with 3, and PA-MPJPE relative to "none" at the same fraction."""
    base = {r["fraction"]: r["mean"]["pa_mpjpe_mm"] for r in rows if r["variant"] == "none"}
    header = ["labels", "pre-training", "seeds", *METRICS.values(), "PA-MPJPE vs none"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in sorted(rows, key=lambda r: r["fraction"]):
        cells = [_pm(r["mean"][m], r["std"][m], 1 if m.endswith("_mm") else 3) for m in METRICS]
        ref = base.get(r["fraction"])
        rel = f"{100 * (r['mean']['pa_mpjpe_mm'] / ref - 1):+.1f} %" if ref else "—"
        lines.append("| " + " | ".join([f"{r['fraction']:g}", r["variant"], str(r["n"]), *cells,
                                        rel]) + " |")
    return "\n".join(lines)


def _chart(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fractions = sorted({r["fraction"] for r in rows})
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    by = {(r["variant"], r["fraction"]): r for r in rows}
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    width = 0.8 / len(variants)
    for ax, metric in zip(axes, ("mpjpe_mm", "pa_mpjpe_mm")):
        for k, v in enumerate(variants):
            got = [by.get((v, f)) for f in fractions]
            ax.bar(np.arange(len(fractions)) + (k - (len(variants) - 1) / 2) * width,
                   [g["mean"][metric] if g else np.nan for g in got], width,
                   yerr=[np.nan_to_num(g["std"][metric]) if g else 0 for g in got],
                   capsize=2, label=v)
        ax.set_xticks(np.arange(len(fractions)), [f"{f:g} of labels" for f in fractions])
        ax.set_ylabel(f"{METRICS[metric]} (lower is better)")
    axes[0].legend(fontsize=8)
    fig.suptitle("Fine-tuned RN_25D on the shifted-look synthetic test set (mean ± std over seeds)")
    fig.tight_layout()
    write_figure(fig, path, dpi=110)
    plt.close(fig)


def write_results(out: Path, result: dict) -> tuple[Path, Path, Path]:
    """Write ``results.json``, ``results.md`` (table + setup + timing) and ``results.png``."""
    rows = result["summary"]
    js, md, png = out / "results.json", out / "results.md", out / "results.png"
    write_json(js, result, default=float)
    _chart(rows, png)
    timing = " · ".join(f"{k} {v / 60:.1f} min" for k, v in result["timing"].items())
    command = f"Command: `{result['command']}`\n\n" if result.get("command") else ""
    probe = (f"Nearest-neighbour pose probe of the frozen encoders (no fine-tuning; "
             f"experiments/probe.py):\n\n{format_probe(result['probe'])}\n\n"
             if result.get("probe") else "")
    write_text(md, f"# Pre-training methods at equal compute (synthetic world)\n\n"
               f"{command}{format_table(rows)}\n\n{probe}"
               f"Setup: `{json.dumps(result['spec'], default=str)}`\n\n"
               f"Wall clock: {timing}\n\n![chart]({png.name})\n")
    return js, md, png


def run_probe(world: World, encoders: dict[tuple[str, int], Path | None], spec: PretrainSpec,
              path: Path) -> dict:
    """The nearest-neighbour pose probe (`experiments.probe`) of every (variant, seed) encoder
    (None: random initialisation with that seed), cached in `path` (JSON).

    Returns:
        {"reference": {"mean_pose": mm, "true_2d_pose": mm, "oracle": mm},
        "encoders": {"<variant>_seed<s>": mm}}.
    """
    done = json.loads(path.read_text()) if path.is_file() else {"encoders": {}}
    todo = {k: v for k, v in encoders.items() if f"{k[0]}_seed{k[1]}" not in done["encoders"]}
    if not todo and "true_2d_pose" in done.get("reference", {}):
        return done
    train = load_hands(world.labeled, "training", spec.view_size)
    test = load_hands(world.test, "training", spec.view_size)
    if "true_2d_pose" not in done.get("reference", {}):
        done["reference"] = reference_errors(train, test)
    for (variant, seed), enc in todo.items():
        weights = None if enc is None else enc / "encoder_torchvision.pth"
        feats = [encode(h.images, weights, arch=spec.encoder, seed=seed) for h in (train, test)]
        done["encoders"][f"{variant}_seed{seed}"] = knn_pose_probe(feats[0], train.xyz, feats[1],
                                                                   test.xyz)
    write_json(path, done)
    return done


def format_probe(probe: dict) -> str:
    """Markdown table of `run_probe`'s result: mean ± std over seeds per variant."""
    by: dict[str, list[float]] = {}
    for key, value in probe["encoders"].items():
        by.setdefault(key.rsplit("_seed", 1)[0], []).append(value)
    lines = ["| encoder | seeds | kNN-probe PA-MPJPE (mm) |", "|---|---|---|"]
    for variant, values in by.items():
        v = np.array(values)
        std = float(v.std(ddof=1)) if len(v) > 1 else float("nan")
        lines.append(f"| {variant} | {len(v)} | {_pm(float(v.mean()), std, 1)} |")
    references = {"mean_pose": "mean labelled pose, Procrustes mean (ignores the image)",
                  "true_2d_pose": "retrieval by the true 2D keypoints",
                  "oracle": "oracle nearest 3D pose"}
    lines += [f"| *reference: {text}* | — | {probe['reference'][key]:.1f} |"
              for key, text in references.items() if key in probe["reference"]]
    return "\n".join(lines)


# --------------------------------------------------------------------------- worker tasks

@contextlib.contextmanager
def _logged(path: Path):
    """Send this process's stdout/stderr (fd level: Lightning, warnings) to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush(), sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "a") as log:
        os.dup2(log.fileno(), 1), os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush(), sys.stderr.flush()
            os.dup2(saved[0], 1), os.dup2(saved[1], 2)
            os.close(saved[0]), os.close(saved[1])


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)


def _pretrain_task(variant: str, seed: int, world: World, mined: Path, out: Path,
                   spec: PretrainSpec) -> float:
    t0 = time.perf_counter()
    with _logged(out / "log.txt"):
        pretrain_variant(variant, world, mined, out, replace(spec, seed=seed), progress=False)
    shutil.rmtree(out / "checkpoints", ignore_errors=True)  # the exported encoder stays
    return time.perf_counter() - t0


def _cell_task(world: World, init: Path | None, out: Path, spec: FinetuneSpec,
               gallery: int) -> tuple[dict, float]:
    t0 = time.perf_counter()
    with _logged(out / "log.txt"):
        ckpt = finetune_variant(world, init, out / "finetune", spec, progress=False)
        report = evaluate(ckpt, world.test, split="training", out_dir=out / "eval",
                          gallery=gallery, progress=False)
    metrics = {k: float(v) for k, v in report.metrics.items()}
    write_json(out / "metrics.json", metrics)
    for epoch in (out / "finetune" / "checkpoints").glob("epoch=*.ckpt"):
        epoch.unlink()  # last.ckpt stays, to evaluate again (e.g. another crop)
    return metrics, time.perf_counter() - t0


def _run_all(pool, tasks: dict, desc: str, progress: bool) -> dict:
    """Submit `tasks` {key: (fn, args)}; returns {key: result}, a bar over finished tasks."""
    futures = {pool.submit(fn, *args): key for key, (fn, args) in tasks.items()}
    results = {}
    with tqdm(total=len(futures), desc=desc, unit="run", disable=not progress) as bar:
        for fut in as_completed(futures):
            results[futures[fut]] = fut.result()
            bar.update(1)
    return results


def make_spec(mode: str = "full", *, variants: tuple[str, ...] | None = None,
              fractions: tuple[float, ...] | None = None,
              pretrain_steps: int | None = None,
              finetune_steps: int | None = None) -> BenchSpec:
    """`SPECS[mode]` with some sizes replaced (for targeted extra runs)."""
    spec = SPECS[mode]
    if variants is not None:
        bad = sorted(set(variants) - set(VARIANTS))
        if bad or not variants:
            raise ValueError(f"variants: unknown {bad or 'empty list'}; choices "
                             f"{sorted(VARIANTS)}.")
        spec = replace(spec, variants=tuple(variants))
    if fractions is not None:
        if not fractions or not all(0 < f <= 1 for f in fractions):
            raise ValueError(f"fractions: expected values in (0, 1], got {fractions!r}.")
        spec = replace(spec, fractions=tuple(fractions))
    if pretrain_steps is not None:
        if pretrain_steps < 1:
            raise ValueError(f"pretrain_steps: expected >= 1, got {pretrain_steps}.")
        spec = replace(spec, pretrain=replace(spec.pretrain, steps=pretrain_steps))
    if finetune_steps is not None:
        if finetune_steps < 1:
            raise ValueError(f"finetune_steps: expected >= 1, got {finetune_steps}.")
        spec = replace(spec, finetune_steps=finetune_steps)
    return spec


def run_benchmark(out: str | Path, spec: BenchSpec | str = "full", *, seeds: int = 2,
                  jobs: int = 2, progress: bool = True, command: str = "") -> dict:
    """Run (or resume) the benchmark `spec` (a `SPECS` name or a BenchSpec) into `out`;
    returns the result dict it writes."""
    if seeds < 1 or jobs < 1:
        raise ValueError(f"seeds and jobs must be >= 1, got seeds={seeds}, jobs={jobs}.")
    mode = spec if isinstance(spec, str) else "custom"
    spec = SPECS[spec] if isinstance(spec, str) else spec
    out = Path(out)
    timing: dict[str, float] = {}
    t0 = time.perf_counter()
    world = make_world(spec.world, out / "data", progress=progress)
    mined = mine_pool(world, spec.world.k, progress=progress)
    timing["world + mining"] = time.perf_counter() - t0
    pretrained = [(v, s) for v in spec.variants for s in range(seeds) if VARIANTS[v][0]]
    encoders = {(v, s): out / "pretrain" / f"{v}_seed{s}" for v, s in pretrained}
    cells = [(v, f, s) for v in spec.variants for f in spec.fractions for s in range(seeds)]
    with ProcessPoolExecutor(jobs, mp_context=get_context("spawn"),
                             initializer=_init_worker) as pool:
        t1 = time.perf_counter()
        _run_all(pool, {key: (_pretrain_task, (key[0], key[1], world, mined, path, spec.pretrain))
                        for key, path in encoders.items()
                        if not (path / "encoder_torchvision.pth").is_file()},
                 "pre-train", progress)
        timing["pre-training"] = time.perf_counter() - t1
        probe = run_probe(world, {(v, s): encoders.get((v, s)) for v in spec.variants
                                  for s in range(seeds)}, spec.pretrain, out / "probe.json")
        t2 = time.perf_counter()
        tasks = {}
        for v, f, s in cells:
            cell = out / "finetune" / f"{v}_frac{f:g}_seed{s}"
            if (cell / "metrics.json").is_file():
                continue
            init = encoders[v, s] / "encoder_torchvision.pth" if (v, s) in encoders else None
            ft = FinetuneSpec(label_fraction=f, seed=s, threads=1, epochs=finetune_epochs(
                spec.world.labeled, f, spec.finetune_batch, spec.finetune_steps),
                overrides={**_QUIET, "data.batch_size": spec.finetune_batch})
            tasks[v, f, s] = (_cell_task, (world, init, cell, ft, spec.eval_gallery))
        _run_all(pool, tasks, "fine-tune + evaluate", progress)
        timing["fine-tuning + evaluation"] = time.perf_counter() - t2
    timing["total"] = time.perf_counter() - t0
    if (out / "results.json").is_file():  # a resumed run: the earlier runs' time counts too
        earlier = json.loads((out / "results.json").read_text()).get("timing", {})
        timing = {k: v + earlier.get(k, 0.0) for k, v in timing.items()}
    results = [{"variant": v, "fraction": f, "seed": s, "metrics": json.loads(
        (out / "finetune" / f"{v}_frac{f:g}_seed{s}" / "metrics.json").read_text())}
        for v, f, s in cells]
    result = {"command": command, "mode": mode, "seeds": seeds,
              "jobs": jobs, "spec": asdict(spec), "timing": timing, "cells": results,
              "summary": aggregate(results), "probe": probe}
    write_results(out, result)
    return result
