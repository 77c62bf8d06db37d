"""The SiMHand experiment on the synthetic world: none / SimCLR / PeCLR / SiMHand / SiMHand-w
pre-training at equal compute, fine-tuned at two label fractions, evaluated on a test set with
a shifted look (mean ± std over seeds). Results and discussion: docs/experiments.md.

    flock /tmp/handkit-bench.lock .venv/bin/python benchmarks/pretraining.py [--quick]
        [--out runs/bench_pretraining] [--seeds 2] [--jobs 2]
        [--variants simclr,simhand_w] [--fractions 0.1] [--pretrain-steps 900]
        [--finetune-steps 600]

Re-running the same command resumes (finished stages are reused). Writes results.md,
results.json and results.png into --out and prints the table.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from handkit.experiments.pretraining_bench import format_table, make_spec, run_benchmark


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(x) for x in text.split(","))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smallest sizes (< 10 min)")
    parser.add_argument("--out", default=None,
                        help="output folder (default runs/bench_pretraining[_quick])")
    parser.add_argument("--seeds", type=int, default=2, help="seeds per cell (default 2)")
    parser.add_argument("--jobs", type=int, default=2, help="parallel runs (default 2)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--variants", default=None,
                        help="comma-separated subset of none,simclr,peclr,simhand,simhand_w")
    parser.add_argument("--fractions", type=_floats, default=None,
                        help="comma-separated label fractions (default 0.1,1 / quick 0.25,1)")
    parser.add_argument("--pretrain-steps", type=int, default=None,
                        help="pre-training steps of every method (default 300 / quick 12)")
    parser.add_argument("--finetune-steps", type=int, default=None,
                        help="fine-tuning steps of every cell (default 80 / quick 8)")
    args = parser.parse_args(argv)
    out = args.out or ("runs/bench_pretraining_quick" if args.quick else "runs/bench_pretraining")
    command = "python benchmarks/pretraining.py " + shlex.join(sys.argv[1:] if argv is None
                                                              else argv)
    spec = make_spec("quick" if args.quick else "full", fractions=args.fractions,
                     variants=tuple(args.variants.split(",")) if args.variants else None,
                     pretrain_steps=args.pretrain_steps,
                     finetune_steps=args.finetune_steps)
    result = run_benchmark(out, spec, seeds=args.seeds, jobs=args.jobs,
                           progress=not args.quiet, command=command.strip())
    print(format_table(result["summary"]))
    print("wall clock (s): " + ", ".join(f"{k} {v:.0f}" for k, v in result["timing"].items()))
    print(f"written: {out}/results.md, results.json, results.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
