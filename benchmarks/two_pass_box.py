"""FreiHAND two-pass crop: the official integer second box vs the float one (docs/finetune.md).

Run alone: `flock /tmp/handkit-bench.lock .venv/bin/python benchmarks/two_pass_box.py [--n 400]`.
Synthesizes a FreiHAND-layout world (seed 11, 224 px) and evaluates the shipped checkpoint on
its training split with both `second_box` rules, printing one row each.
"""

import argparse
import tempfile
import time

from handkit.data.synth.runner import synthesize
from handkit.infer.evaluate import evaluate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400, help="images to synthesize")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = synthesize("freihand", tmp, args.n, seed=11, size=224, progress=False)
        print("| second box | images | MPJPE mm | PA-MPJPE mm | 2D px | PA-AUC | s |")
        print("|---|---|---|---|---|---|---|")
        for rule in ("official", "float"):
            t0 = time.perf_counter()
            r = evaluate(None, root, split="train", crop="two_pass", second_box=rule,
                         progress=False)
            m = r.metrics
            print(f"| {rule} | {r.meta['num_samples']} | {m['mpjpe_mm']:.2f} | "
                  f"{m['pa_mpjpe_mm']:.2f} | {m['mpjpe_2d_px']:.3f} | {m['pa_auc']:.4f} | "
                  f"{time.perf_counter() - t0:.0f} |")


if __name__ == "__main__":
    main()
