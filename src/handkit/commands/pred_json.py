"""`handkit pred-json`: a mesh checkpoint's predictions as Codalab's pred.json (infer.codalab)."""

from __future__ import annotations

import argparse

from handkit.commands._types import integer

HELP = "write pred.json for the FreiHAND/HO3D Codalab servers from an s2hand checkpoint"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ckpt", required=True, help="checkpoint of a camera-frame metric model")
    parser.add_argument("--data", required=True, metavar="DIR", help="dataset folder")
    parser.add_argument("--format", default="auto", help="dataset format (default: detect)")
    parser.add_argument("--split", default="evaluation", help="the evaluation split")
    parser.add_argument("--layout", choices=["freihand", "ho3d"],
                        help="joint order and camera convention (default: the format's)")
    parser.add_argument("--flip-vertices", action="store_true",
                        help="ho3d: negate the vertices' y, z too (S2HAND flips joints only)")
    parser.add_argument("--crop", choices=["auto", "whole", "ho3d"], default="auto",
                        help="model input: the whole image, or S2HAND's HO3D crop around "
                        "handBoundingBox (default auto: ho3d for HO3D, else whole)")
    parser.add_argument("--crop-seed", type=integer(0), default=0,
                        help="seed of the HO3D crop's jitter (per sample: seed, index)")
    parser.add_argument("--no-jitter", action="store_true",
                        help="HO3D crop without S2HAND's centre/scale jitter (on as released)")
    parser.add_argument("--batch-size", type=integer(1), default=16, help="images per batch")
    parser.add_argument("--limit", type=integer(1), help="the first N samples only")
    parser.add_argument("--out", default="pred.json", help="output file")


def run(args: argparse.Namespace) -> int:
    from handkit.infer.codalab import predict_pred_json

    out = predict_pred_json(args.ckpt, args.data, args.out, split=args.split,
                            format=args.format, layout=args.layout, batch_size=args.batch_size,
                            limit=args.limit, flip_vertices=args.flip_vertices,
                            crop=args.crop, crop_seed=args.crop_seed, jitter=not args.no_jitter)
    print(f"pred-json: wrote {out}")
    return 0
