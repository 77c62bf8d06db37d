"""The command-line arguments every synthetic-world experiment script shares
(benchmarks/s2hand_synth.py, benchmarks/smhr_synth.py)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["add_experiment_arguments", "size_kwargs"]

_SIZES = ("n_train", "n_test", "size", "epochs", "batch_size")


def add_experiment_arguments(parser: argparse.ArgumentParser, defaults: Any,
                             variants: tuple[str, ...]) -> None:
    """``--out``, ``--n-train``, ``--n-test``, ``--size``, ``--epochs``, ``--batch-size`` (defaults
    from the experiment dataclass `defaults`), ``--threads`` (2), ``--variants`` (all of
    `variants`) and ``--set`` (config overrides for every variant, repeatable)."""
    parser.add_argument("--out", type=Path, required=True)
    for name in _SIZES:
        parser.add_argument(f"--{name.replace('_', '-')}", type=int,
                            default=getattr(defaults, name))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--variants", nargs="+", default=list(variants), choices=variants)
    parser.add_argument("--set", action="append", default=[],
                        help="config override for every variant")


def size_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The parsed sizes and the overrides (``--set`` + ``threads=``) as experiment fields."""
    return {**{name: getattr(args, name) for name in _SIZES},
            "overrides": [*args.set, f"threads={args.threads}"]}
