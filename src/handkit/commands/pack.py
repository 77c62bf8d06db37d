"""`handkit pack`: pack a dataset into streamable LMDB shards (resumable)."""

from __future__ import annotations

import argparse
import json

from handkit.commands._types import integer

HELP = "pack a dataset (any format) into streamable LMDB shards; resumes if interrupted"


def _option(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="dataset root directory")
    parser.add_argument("--format", required=True, help="dataset format (see docs/data.md)")
    parser.add_argument("--split", default=None,
                        help="split name (default: the format's training split)")
    parser.add_argument("--out", required=True, help="output shard directory")
    parser.add_argument("--shard-size", type=integer(1), default=10_000, help="samples per shard")
    parser.add_argument("--codec", choices=("jpeg", "png"), default="jpeg",
                        help="image codec in the shards (png: lossless)")
    parser.add_argument("--quality", type=integer(1, 100), default=95, help="JPEG quality")
    parser.add_argument("--workers", type=integer(0), default=0, help="loader worker processes")
    parser.add_argument("--option", type=_option, action="append", default=[],
                        metavar="KEY=VALUE",
                        help="format option, e.g. regressor=/path/J.npy (values parsed as JSON)")
    parser.add_argument("--digit-lmdb", choices=("images", "masks"),
                        help="with --format interhand: write DIGIT's official LMDB of the images "
                             "(or of the segm_32/ part masks) instead of handkit shards; all "
                             "splits unless --split (docs/digit.md)")


_DEFAULT_SPLIT = {"freihand": "training"}


def run(args: argparse.Namespace) -> int:
    if args.digit_lmdb:
        if args.format != "interhand":
            raise ValueError(f"--digit-lmdb: needs --format interhand, got {args.format!r}.")
        from handkit.data.formats.interhand_lmdb import pack_interhand_lmdb

        splits = [args.split] if args.split else ["train", "val", "test"]
        n = pack_interhand_lmdb(args.data, args.out, what=args.digit_lmdb, splits=splits)
        print(f"packed {n} {args.digit_lmdb} of {', '.join(splits)} into {args.out} (DIGIT's "
              "LMDB layout)")
        return 0
    from handkit.data.formats import open_dataset
    from handkit.data.shards import pack

    split = args.split or _DEFAULT_SPLIT.get(args.format, "train")
    dataset = open_dataset(args.format, args.data, split, **dict(args.option))
    report = pack(dataset, args.out, shard_size=args.shard_size, codec=args.codec,
                  quality=args.quality, num_workers=args.workers,
                  source=f"{args.format}:{split}:{args.data}")
    print(f"packed {len(dataset) - report.count} of {len(dataset)} samples into {args.out}")
    print(report.summary())
    return 0
