"""Arguments every training verb shares (config, overrides, output, resume, devices)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_training_arguments", "flag_values", "training_config"]


def add_training_arguments(parser: argparse.ArgumentParser, *, default_out: str | None,
                           example_config: str, example_set: str) -> None:
    """--config, --set, --out, --resume, --devices, --strategy, --num-nodes."""
    parser.add_argument("--config", metavar="YAML",
                        help=f"experiment config: a file or a packaged name, e.g. {example_config}")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help=f"override a config value, e.g. --set {example_set}")
    parser.add_argument("--out", default=default_out,
                        help=f"output folder (default {default_out or 'runs/METHOD'})")
    parser.add_argument("--resume", action="store_true",
                        help="continue from OUT/checkpoints/last.ckpt")
    parser.add_argument("--devices", help="devices per node, e.g. 8 (trainer.devices)")
    parser.add_argument("--strategy", help="e.g. ddp (trainer.strategy)")
    parser.add_argument("--num-nodes", type=int, help="nodes (trainer.num_nodes)")


def flag_values(args: argparse.Namespace, flags: dict[str, Any] | None = None) -> dict[str, Any]:
    """Config keys → the typed values of the flags given (`load_config(values=...)`: they win
    over --set), the trainer flags included."""
    flags = {**(flags or {}), "trainer.devices": args.devices, "trainer.strategy": args.strategy,
             "trainer.num_nodes": args.num_nodes}
    return {key: value for key, value in flags.items() if value is not None}


def training_config(cls: type, method: str, args: argparse.Namespace,
                    flags: dict[str, Any] | None = None) -> Any:
    """The experiment config of a training verb: `cls`'s defaults, then ``--config`` (a file or
    a packaged name, `utils.config.config_path`), ``--set``, then the typed flags."""
    from handkit.utils.config import config_path, load_config

    path = config_path(args.config, method) if args.config else None
    return load_config(cls, path, args.set, flag_values(args, flags))
