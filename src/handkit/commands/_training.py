"""Arguments every training verb shares (config, overrides, output, resume, devices)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_training_arguments", "flag_overrides"]


def add_training_arguments(parser: argparse.ArgumentParser, *, default_out: str,
                           example_config: str, example_set: str) -> None:
    """--config, --set, --out, --resume, --devices, --strategy, --num-nodes."""
    parser.add_argument("--config", metavar="YAML", help=f"experiment config, e.g. {example_config}")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help=f"override a config value, e.g. --set {example_set}")
    parser.add_argument("--out", default=default_out, help="output folder (default %(default)s)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from OUT/checkpoints/last.ckpt")
    parser.add_argument("--devices", help="devices per node, e.g. 8 (trainer.devices)")
    parser.add_argument("--strategy", help="e.g. ddp (trainer.strategy)")
    parser.add_argument("--num-nodes", type=int, help="nodes (trainer.num_nodes)")


def flag_overrides(args: argparse.Namespace, flags: dict[str, Any]) -> list[str]:
    """`--set` values, then `key=value` for every flag given (flags win over --set)."""
    flags = {**flags, "trainer.devices": args.devices, "trainer.strategy": args.strategy,
             "trainer.num_nodes": args.num_nodes}
    return list(args.set) + [f"{key}={value}" for key, value in flags.items() if value is not None]
