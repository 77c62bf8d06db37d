"""SMHR on the synthetic multi-hand world (issue 16 item 7, `experiments.smhr_synth`):
accuracy against hands per image (1-4), weak (2D only) vs full (+3D) supervision, beside the
mean-pose reference. Resumable (each stage reuses its output).

Run alone: `flock /tmp/handkit-bench.lock nice -n 5 .venv/bin/python benchmarks/smhr_synth.py
--out runs/smhr_synth` (defaults: 512 training images with 1-4 hands, 48 test images per count,
128 px, 6 epochs, batch 8).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import datetime, timezone

import torch

from handkit.experiments.args import add_experiment_arguments, size_kwargs
from handkit.experiments.smhr_synth import VARIANTS, MultiHandExperiment, run_experiment
from handkit.utils.files import write_json


def _fmt(v: float, digits: int = 2) -> str:
    return "n/a" if v != v else f"{v:.{digits}f}"


def main() -> None:
    d = MultiHandExperiment()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_experiment_arguments(p, d, VARIANTS)
    p.add_argument("--counts", type=int, nargs="+", default=list(d.counts))
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    exp = MultiHandExperiment(**size_kwargs(a), counts=tuple(a.counts))
    start = datetime.now(timezone.utc)
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    res = run_experiment(exp, a.out, tuple(a.variants))
    res["wall_s"] = time.perf_counter() - t0
    res["when"] = {"start_utc": start.isoformat(timespec="seconds"),
                   "load_start": load0, "load_end": os.getloadavg()}
    write_json(a.out / "results.json", res)
    print(f"SMHR on the synthetic multi-hand world: {a.n_train} training images (1-4 hands), "
          f"{a.n_test} test images per count, {a.size} px, {a.epochs} epochs, batch "
          f"{a.batch_size}; started {res['when']['start_utc']}, wall clock "
          f"{res['wall_s'] / 60:.1f} min, load {load0[0]:.1f} -> {os.getloadavg()[0]:.1f}")
    print("| hands | variant | AP@KS0.5 | AP@KS0.25 | recall@0.5 | handedness (matched) | "
          "GT-centre 2D px | GT-centre KS | GT-centre PA-MPJPE mm | GT-centre handedness |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in a.counts:
        for name in a.variants:
            s = res[name]["scores"][n]
            print(f"| {n} | {name} | {_fmt(s['ap'], 3)} | {_fmt(s['ap@0.25'], 3)} | "
                  f"{_fmt(s['recall'], 3)} | {_fmt(s['handedness'])} | {_fmt(s['gtc_uv_px'])} | "
                  f"{_fmt(s['gtc_ks'], 3)} | {_fmt(s['gtc_pa_mpjpe_mm'])} | "
                  f"{_fmt(s['gtc_handedness'])} |")
        r = res["mean_pose"][n]
        print(f"| {n} | mean pose at the true centre, mean size (reference) | | | | | "
              f"{_fmt(r['centre_uv_px'])} | {_fmt(r['centre_ks'], 3)} | "
              f"{_fmt(r['pa_mpjpe_mm'])} | |")
        print(f"| {n} | mean pose in the true box (reference) | | | {_fmt(r['ks_pass'], 3)} | | "
              f"{_fmt(r['uv_px'])} | {_fmt(r['ks'], 3)} | {_fmt(r['pa_mpjpe_mm'])} | |")
    for name in a.variants:
        print(f"{name}: trained {res[name]['train_s'] / 60:.1f} min")
    print(json.dumps({"results": str(a.out / "results.json")}))


if __name__ == "__main__":
    main()
