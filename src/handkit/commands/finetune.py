"""`handkit finetune`: supervised fine-tuning of RN_25D_wMLPref or minimal-hand's DetNet."""

from __future__ import annotations

import argparse

from handkit.commands._training import add_training_arguments, training_config

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
    add_training_arguments(parser, default_out="runs/finetune",
                           example_config="finetune/cpu_rn25d",
                           example_set="trainer.max_epochs=2")

def run(args: argparse.Namespace) -> int:
    from handkit.tasks.finetune import FinetuneConfig, finetune

    cfg = training_config(FinetuneConfig, "finetune", args, {
        "model.name": args.model, "data.root": args.data, "init": args.init,
        "data.label_fraction": args.label_fraction})
    last = finetune(cfg, args.out, resume=args.resume)
    print(f"finetune: checkpoints in {args.out}/checkpoints (last: {last}), logs in "
          f"{args.out}/logs; evaluate with `handkit evaluate --ckpt {last} --data DIR`")
    return 0
