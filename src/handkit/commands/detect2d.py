"""`handkit detect2d`: a split's 2D detections as S2HAND's detect_all.json (mining.detections_file)."""

from __future__ import annotations

import argparse
from pathlib import Path

from handkit.commands._sources import keypoint_source
from handkit.commands._types import integer, number

HELP = "detect the hand of every image of a split (model or MediaPipe) -> S2HAND's detection JSON"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, metavar="DIR", help="dataset folder")
    p.add_argument("--split", default="training", help="split")
    p.add_argument("--format", default="auto", help="dataset format (default: detect)")
    p.add_argument("--detector", choices=("model", "mediapipe"), required=True,
                   help="a handkit 2D model file or MediaPipe (optional extra)")
    p.add_argument("--model", type=Path, help="--detector model: a TorchScript (.pt) or "
                   "torch.export (.pt2) file: (B, 3, S, S) ImageNet-normalised RGB -> "
                   "(B, 21, 2|3) pixels")
    p.add_argument("--size", type=integer(1), help="the side the detector sees (default: the "
                   "images' own; 224 for the model files of handkit mine)")
    p.add_argument("--min-confidence", type=number(0, 1), default=0.5, help="detector threshold")
    p.add_argument("--batch-size", type=integer(1), default=16, help="images per batch")
    p.add_argument("--limit", type=integer(1), help="the first N samples only")
    p.add_argument("--out", required=True, type=Path, help="output JSON")


def run(args: argparse.Namespace) -> int:
    from handkit.mining.detections_file import detect_split

    source = keypoint_source(args.detector, args.model, args.min_confidence)
    out = detect_split(args.data, args.split, source, args.out, format=args.format,
                       size=args.size, batch_size=args.batch_size, limit=args.limit)
    print(f"detect2d: wrote {out}; train with --set data.keypoints=file "
          f"--set data.detections={out}")
    return 0
