"""The SiMHand experiment on the synthetic world: none / SimCLR / PeCLR / SiMHand / SiMHand-w
pre-training at equal compute, fine-tuned at two label fractions, evaluated on a test set with
a shifted look (mean ± std over seeds). Results and discussion: docs/experiments.md.

    flock /tmp/handkit-bench.lock .venv/bin/python benchmarks/pretraining.py [--quick]
        [--out runs/bench_pretraining] [--seeds 2] [--jobs 2]

Re-running the same command resumes (finished stages are reused). Writes results.md,
results.json and results.png into --out and prints the table.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from handkit.experiments.pretraining_bench import format_table, run_benchmark


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smallest sizes (< 10 min)")
    parser.add_argument("--out", default=None,
                        help="output folder (default runs/bench_pretraining[_quick])")
    parser.add_argument("--seeds", type=int, default=2, help="seeds per cell (default 2)")
    parser.add_argument("--jobs", type=int, default=2, help="parallel runs (default 2)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    out = args.out or ("runs/bench_pretraining_quick" if args.quick else "runs/bench_pretraining")
    command = "python benchmarks/pretraining.py " + shlex.join(sys.argv[1:] if argv is None
                                                              else argv)
    result = run_benchmark(out, quick=args.quick, seeds=args.seeds, jobs=args.jobs,
                           progress=not args.quiet, command=command.strip())
    print(format_table(result["summary"]))
    print("wall clock (s): " + ", ".join(f"{k} {v:.0f}" for k, v in result["timing"].items()))
    print(f"written: {out}/results.md, results.json, results.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
