"""`handkit export-encoder`: a pre-training checkpoint's encoder as a torchvision ResNet file."""

from __future__ import annotations

import argparse

HELP = "write a pre-trained encoder as a plain torchvision ResNet state dict (PeCLR/SiMHand layout)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ckpt", required=True, help="a `handkit pretrain` checkpoint (.ckpt)")
    parser.add_argument("--out", required=True, help="output .pth file")
    parser.add_argument("--container", choices=["state_dict", "top"], default="state_dict",
                        help="'state_dict': {'state_dict': sd} as PeCLR releases; 'top': sd "
                             "itself as SiMHand's hub file (default %(default)s)")


def run(args: argparse.Namespace) -> int:
    from handkit.tasks.pretrain import export_encoder

    out = export_encoder(args.ckpt, args.out, args.container)
    print(f"export-encoder: wrote {out}; load with "
          f"torchvision.models.<arch>().load_state_dict(sd, strict=False) or --init {out}")
    return 0
