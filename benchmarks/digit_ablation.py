"""DIGIT's segmentation ablation on the synthetic world (issue 17 item 8,
`experiments.digit_ablation`): fused vs auxiliary vs no segmentation branch, MPJPE single /
interacting / all and MRRPE on the world's test split, beside the mean-pose reference.
Resumable (the world and each variant's checkpoint are reused).

Run alone: `flock /tmp/handkit-bench.lock nice -n 5 .venv/bin/python benchmarks/digit_ablation.py
--out runs/digit_ablation` (defaults: docs/digit.md "The segmentation ablation").
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from handkit.experiments.digit_ablation import VARIANTS, DigitAblation, run_ablation, table_lines
from handkit.utils.files import write_json


def main() -> None:
    d = DigitAblation()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--n", type=int, default=d.n, help="images of the world (80/10/10 split)")
    p.add_argument("--world-size", type=int, default=d.world_size)
    p.add_argument("--image-size", type=int, default=d.image_size)
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seeds", type=int, nargs="+", default=list(d.seeds))
    p.add_argument("--depth-bins", type=int, default=None,
                   help="joints' depth bins (default image-size // 4, the official ratio)")
    p.add_argument("--backbone", default=d.backbone, help="stride-4 encoder: stem4, resnet18_s4")
    p.add_argument("--init", default=None, help="weights file for the encoder (every variant)")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    p.add_argument("--set", action="append", default=[], help="config override for every variant")
    a = p.parse_args()
    exp = DigitAblation(n=a.n, world_size=a.world_size, image_size=a.image_size,
                        epochs=a.epochs, batch_size=a.batch_size, lr=a.lr,
                        seeds=tuple(a.seeds), depth_bins=a.depth_bins, backbone=a.backbone,
                        init=a.init,
                        overrides=[*a.set, f"threads={a.threads}"])
    t0 = time.perf_counter()
    res = run_ablation(exp, a.out, tuple(a.variants), threads=a.threads)
    res["wall_s"] = time.perf_counter() - t0
    write_json(a.out / "results.json", res)
    first = res[a.variants[0] if 1 in a.seeds else f"{a.variants[0]}_seed{a.seeds[0]}"]
    print(f"DIGIT ablation on the synthetic world: {a.n} images at {a.world_size} px "
          f"(test split {first['frames']} frames: {first['frames_sh']} single, "
          f"{first['frames_ih']} interacting), crops {a.image_size} px, {a.epochs} epochs, "
          f"batch {a.batch_size}, lr {a.lr}, {a.backbone} (init {a.init}), seeds {a.seeds}; wall clock {res['wall_s'] / 60:.1f} min")
    print("\n".join(table_lines(res)))
    print(json.dumps({"results": str(a.out / "results.json")}))


if __name__ == "__main__":
    main()
