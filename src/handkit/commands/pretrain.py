"""`handkit pretrain`: contrastive pre-training (SimCLR, PeCLR, SiMHand; `_w` with --weighting)."""

from __future__ import annotations

import argparse

from handkit.commands._training import add_training_arguments, training_config

HELP = "contrastive pre-training: SimCLR, PeCLR or SiMHand (adaptive weights with --weighting)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--method", choices=["simclr", "peclr", "simhand"],
                        help="method (default: the config's; SiMHand without a config)")
    parser.add_argument("--weighting", choices=["none", "linear", "non_linear"],
                        help="SiMHand adaptive weights (the `_w` experiments); default none")
    parser.add_argument("--data", action="append", default=[], metavar="DIR",
                        help="dataset folder or Hand100M annotation JSON; repeat to mix sources "
                             "(balanced 50/50 as the seeds). simhand needs mined pairs")
    add_training_arguments(parser, default_out="runs/pretrain",
                           example_config="pretrain/cpu_simhand_w",
                           example_set="data.batch_size=64")

def run(args: argparse.Namespace) -> int:
    from handkit.tasks.pretrain import PretrainConfig, pretrain

    cfg = training_config(PretrainConfig, "pretrain", args, {
        "method": args.method, "loss.weighting": args.weighting,
        "data.sources": [{"root": d} for d in args.data] or None})
    encoder = pretrain(cfg, args.out, resume=args.resume)
    print(f"pretrain: checkpoints in {args.out}/checkpoints, logs in {args.out}/logs; "
          f"encoder (torchvision layout) at {encoder}")
    return 0
