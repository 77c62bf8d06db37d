"""`handkit pretrain`: contrastive pre-training (SimCLR, PeCLR, SiMHand; `_w` with --weighting)."""

from __future__ import annotations

import argparse

HELP = "contrastive pre-training: SimCLR, PeCLR or SiMHand (adaptive weights with --weighting)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--method", choices=["simclr", "peclr", "simhand"],
                        help="method (default: the config's; SiMHand without a config)")
    parser.add_argument("--weighting", choices=["none", "linear", "non_linear"],
                        help="SiMHand adaptive weights (the `_w` experiments); default none")
    parser.add_argument("--data", action="append", default=[], metavar="DIR",
                        help="dataset folder or Hand100M annotation JSON; repeat to mix sources "
                             "(balanced 50/50 as the seeds). simhand needs mined pairs")
    parser.add_argument("--config", metavar="YAML", help="experiment config, e.g. "
                        "configs/pretrain/simhand_w.yaml or configs/pretrain/cpu_simhand_w.yaml")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set data.batch_size=64")
    parser.add_argument("--out", default="runs/pretrain", help="output folder (default %(default)s)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoints/last.ckpt")
    parser.add_argument("--devices", help="devices per node, e.g. 8 (trainer.devices)")
    parser.add_argument("--strategy", help="e.g. ddp (trainer.strategy)")
    parser.add_argument("--num-nodes", type=int, help="nodes (trainer.num_nodes)")


def run(args: argparse.Namespace) -> int:
    from handkit.tasks.pretrain import PretrainConfig, pretrain
    from handkit.utils.config import load_config

    overrides = list(args.set)
    for key, value in (("method", args.method), ("loss.weighting", args.weighting),
                       ("trainer.devices", args.devices), ("trainer.strategy", args.strategy),
                       ("trainer.num_nodes", args.num_nodes)):
        if value is not None:
            overrides.append(f"{key}={value}")
    cfg = load_config(PretrainConfig, args.config, overrides)
    if args.data:
        from handkit.tasks.pretrain_data import DataSource
        cfg.data.sources = [DataSource(root=d) for d in args.data]
    encoder = pretrain(cfg, args.out, resume=args.resume)
    print(f"pretrain: checkpoints in {args.out}/checkpoints, logs in {args.out}/logs; "
          f"encoder (torchvision layout) at {encoder}")
    return 0
