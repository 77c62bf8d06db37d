"""S2HAND's claim on the synthetic world (issue 15 item 7, `experiments.s2hand_synth`):
noisy detections vs true 2D labels vs no photometric terms, PA-MPJPE on a held-out world with
the shifted look, beside the mean-pose reference. Resumable (each stage reuses its output).

Run alone: `flock /tmp/handkit-bench.lock nice -n 10 .venv/bin/python benchmarks/s2hand_synth.py
--out runs/s2hand_synth` (defaults: 1024 training / 256 test images at 64 px, 10 epochs).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from handkit.experiments.args import add_experiment_arguments, size_kwargs
from handkit.experiments.s2hand_synth import VARIANTS, SynthExperiment, run_experiment
from handkit.utils.files import write_json


def main() -> None:
    d = SynthExperiment()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_experiment_arguments(p, d, VARIANTS)
    p.add_argument("--noise-px", type=float, default=d.noise_px)
    p.add_argument("--dropout", type=float, default=d.dropout)
    p.add_argument("--config", default=d.config,
                   help="the packaged stage config every variant starts from")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    exp = SynthExperiment(**size_kwargs(a), noise_px=a.noise_px, dropout=a.dropout,
                          config=a.config)
    t0 = time.perf_counter()
    res = run_experiment(exp, a.out, tuple(a.variants))
    res["wall_s"] = time.perf_counter() - t0
    write_json(a.out / "results.json", res)
    print(f"S2HAND on the synthetic world: {a.n_train} training / {a.n_test} test images "
          f"(shifted look) at {a.size} px, {a.config}, {a.epochs} epochs, batch {a.batch_size}, noise "
          f"{a.noise_px} px, dropout {a.dropout}; wall clock {res['wall_s'] / 60:.1f} min")
    print("| variant | PA-MPJPE mm | projected 2D px | median depth m (true) | median extent px "
          "| median turn error deg | training min |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in a.variants:
        r = res[name]
        print(f"| {name} | {r['pa_mpjpe_mm']:.2f} | {r['proj_px']:.2f} | "
              f"{r['median_depth_m']:.2f} ({r['gt_median_depth_m']:.2f}) | "
              f"{r['median_extent_px']:.1f} | {r['median_turn_deg']:.0f} | "
              f"{r['train_s'] / 60:.1f} |")
    print(f"| mean pose (reference) | {res['mean_pose']['pa_mpjpe_mm']:.2f} | | | | | |")
    for name, what in (("fit_noisy", "noisy"), ("fit_clean", "true")):
        print(f"| refinement alone on the {what} 2D (reference) | "
              f"{res[name]['pa_mpjpe_mm']:.2f} | | | | | |")
    print(json.dumps({"results": str(a.out / "results.json")}))


if __name__ == "__main__":
    main()
