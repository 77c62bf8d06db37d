"""`handkit finetune`: supervised fine-tuning of RN_25D_wMLPref or minimal-hand's DetNet."""

from __future__ import annotations

import argparse

HELP = "fine-tune RN_25D_wMLPref (rn25d) or minimal-hand DetNet (detnet) on labelled 3D hands"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", choices=["rn25d", "detnet"],
                        help="model (default: the config's; rn25d without a config)")
    parser.add_argument("--data", metavar="DIR", help="dataset folder: FreiHAND, DexYCB or "
                        "AssemblyHands layout (data.root)")
    parser.add_argument("--init", metavar="ENCODER.pth",
                        help="pre-trained encoder (torchvision layout, e.g. from `handkit "
                             "pretrain`, or a PeCLR/SiMHand release file)")
    parser.add_argument("--label-fraction", type=float, metavar="F",
                        help="use this fraction of the labelled samples, in (0, 1] "
                             "(deterministic subset, data.subset_seed)")
    parser.add_argument("--config", metavar="YAML", help="experiment config, e.g. "
                        "configs/finetune/rn25d_rn50.yaml or configs/finetune/cpu_rn25d.yaml")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set trainer.max_epochs=2")
    parser.add_argument("--out", default="runs/finetune", help="output folder (default %(default)s)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoints/last.ckpt")
    parser.add_argument("--devices", help="devices per node (trainer.devices)")
    parser.add_argument("--strategy", help="e.g. ddp (trainer.strategy)")


def run(args: argparse.Namespace) -> int:
    from handkit.tasks.finetune import FinetuneConfig, finetune
    from handkit.utils.config import load_config

    overrides = list(args.set)
    for key, value in (("model.name", args.model), ("data.root", args.data), ("init", args.init),
                       ("data.label_fraction", args.label_fraction),
                       ("trainer.devices", args.devices), ("trainer.strategy", args.strategy)):
        if value is not None:
            overrides.append(f"{key}={value}")
    cfg = load_config(FinetuneConfig, args.config, overrides)
    last = finetune(cfg, args.out, resume=args.resume)
    print(f"finetune: checkpoints in {args.out}/checkpoints (last: {last}), logs in "
          f"{args.out}/logs; evaluate with `handkit evaluate --ckpt {last} --data DIR`")
    return 0
