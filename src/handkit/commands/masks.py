"""`handkit masks`: DIGIT's part masks for real InterHand2.6M from its MANO fits."""

from __future__ import annotations

import argparse

from handkit.commands._types import integer

HELP = ("render InterHand2.6M part masks (segm_32/, DIGIT's 33 classes) from the MANO fits "
        "with your MANO files")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, metavar="DIR",
                        help="InterHand2.6M folder (annotations/<split>/..._MANO_NeuralAnnot.json)")
    parser.add_argument("--split", action="append", choices=["train", "val", "test"],
                        help="split(s) to render (default: all three)")
    parser.add_argument("--mano", metavar="DIR",
                        help="folder with MANO_RIGHT.pkl and MANO_LEFT.pkl (default "
                             "$HANDKIT_MANO_DIR)")
    parser.add_argument("--limit", type=integer(1), help="first N images per split only")
    parser.add_argument("--overwrite", action="store_true", help="re-render existing masks")


def run(args: argparse.Namespace) -> int:
    from handkit.data.formats.interhand_masks import write_interhand_masks
    from handkit.hand.mano_file import find_mano_dir

    mano = find_mano_dir(args.mano)
    for split in args.split or ["train", "val", "test"]:
        written, skipped = write_interhand_masks(args.data, split, mano, limit=args.limit,
                                                 overwrite=args.overwrite)
        reasons = "; ".join(f"{n}x {r}" for r, n in skipped.most_common(5))
        print(f"masks {split}: wrote {written} to {args.data}/segm_32/{split}"
              + (f", skipped {sum(skipped.values())} ({reasons})" if skipped else ""))
    return 0
