"""`handkit demo`: synth → mine → pre-train → fine-tune → evaluate → predict → report."""

from __future__ import annotations

import argparse

HELP = "run the whole pipeline on the synthetic world and write a report (about 3 min on 2 CPU cores)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="runs/demo", help="output folder (default %(default)s)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a couple of minutes)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from handkit.experiments.demo import run_demo

    run_demo(args.out, quick=args.quick, progress=not args.quiet)
    return 0
