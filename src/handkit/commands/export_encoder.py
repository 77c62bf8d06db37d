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
    from handkit.utils.files import output_file

    output_file(args.out)

    out = export_encoder(args.ckpt, args.out, args.container)
    print(f"export-encoder: wrote {out}; fine-tune from it with `handkit finetune --init {out}`, "
          f"or load it (no fc layer, hence strict=False) with:\n{load_snippet(out, args.container)}")
    return 0


def load_snippet(path, container: str) -> str:
    """Python that loads the written file into a torchvision ResNet-18 (`net`); use the
    encoder's own architecture in place of resnet18."""
    key = '["state_dict"]' if container == "state_dict" else ""
    return (f"    import torch, torchvision\n"
            f"    sd = torch.load({str(path)!r}, weights_only=True){key}\n"
            f"    net = torchvision.models.resnet18()\n"
            f"    net.load_state_dict(sd, strict=False)")
