"""`handkit mine`: fill a Hand100M file's positive_sample/distance with similar hands."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from handkit.commands._sources import keypoint_source
from handkit.commands._types import integer, number

HELP = "mine similar-hand positives (other videos) for a Hand100M pool; resumable"

_DETECTORS = ("labels", "model", "mediapipe")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--crops", required=True, type=Path,
                   help="dataset root holding annotations/<Source>/*.json, the JSON itself, or "
                   "a folder of crops <video>/<frame>.jpg (needs --detector model|mediapipe)")
    p.add_argument("--out", required=True, type=Path, help="output Hand100M JSON")
    p.add_argument("--annotations", type=Path, help="the input JSON if the root holds several")
    p.add_argument("--k", type=integer(1), default=10, help="positives per hand")
    p.add_argument("--detector", choices=_DETECTORS, default="labels",
                   help="2D keypoints: the file's own (labels), a model, or MediaPipe")
    p.add_argument("--model", type=Path, help="--detector model: a TorchScript (.pt) or "
                   "torch.export (.pt2) file: (B, 3, 224, 224) ImageNet-normalised RGB -> "
                   "(B, 21, 2|3) crop pixels")
    p.add_argument("--min-confidence", type=number(0, 1), default=0.5, help="detector threshold")
    p.add_argument("--window", type=integer(0), help="exclude same-video poses only within "
                   "this many frames (default: exclude the whole video)")
    p.add_argument("--pca-dim", type=integer(0), default=14, help="PCA size, 0 for none")
    p.add_argument("--scale-by", choices=("rms", "bbox", "bone"), default="rms",
                   help="how 2D poses are normalised in size before embedding (docs/mining.md)")
    p.add_argument("--rotation", choices=("keep", "align"), default="keep",
                   help="keep the in-plane rotation, or align poses before embedding")
    p.add_argument("--index", choices=("auto", "flat", "ivf"), default="auto",
                   help="FAISS index: exact (flat), inverted file (ivf), or by pool size")
    p.add_argument("--hand", choices=("Right", "Left"), default="Right",
                   help="handedness of every crop of a bare crop folder")
    p.add_argument("--no-resume", action="store_true", help="ignore <out>.partial/")


def _find_annotations(crops: Path, annotations: Path | None, out: Path) -> Path | None:
    """The pool's Hand100M JSON; the files this command writes (`out`, its `.pool.json`) are not
    candidates, so that re-running the same command finds the same input."""
    if annotations is not None:
        return annotations
    if crops.is_file():
        return crops
    if not crops.is_dir():
        raise FileNotFoundError(f"--crops: {crops} does not exist.")
    own = {p.resolve() for p in (out, _pool_file(out))}
    found = [f for f in sorted((crops / "annotations").glob("*/*.json"))
             or sorted(crops.glob("*.json")) if f.resolve() not in own]
    if not found:
        return None  # a bare folder of crops
    if len(found) != 1:
        listed = ", ".join(str(f) for f in found[:5]) or "none"
        raise ValueError(f"--crops: expected one Hand100M JSON under {crops}/annotations/<Source>/"
                         f", found {len(found)} ({listed}); pass --annotations FILE.")
    return found[0]


def _pool_file(out: Path) -> Path:
    """Where a bare crop folder's generated Hand100M JSON goes, beside the mined file."""
    return out.with_name(out.name + ".pool.json")


def _refuse_foreign_output(out: Path) -> None:
    """mine may replace a Hand100M JSON (its own kind of output, e.g. an earlier mining of the
    pool), never another file the user keeps at that path."""
    if not out.is_file():
        return
    with open(out, "rb") as f:
        head = f.read(256).decode("utf-8", "replace")
    if not re.match(r'\s*\{\s*"(images|annotations)"\s*:', head):
        raise FileExistsError(f"--out: {out} exists and is not a Hand100M annotation JSON; "
                              "mine writes only over its own kind of file: choose another path.")


def run(args: argparse.Namespace) -> int:
    from handkit.mining.pairs import annotations_from_folder, mine_annotations
    from handkit.utils.files import output_file, write_text

    _refuse_foreign_output(args.out)

    output_file(args.out)  # a folder or an unwritable place: refused before mining
    path = _find_annotations(args.crops, args.annotations, args.out)
    if path is None:
        if args.detector == "labels":
            raise ValueError(f"--crops: {args.crops} holds crops but no Hand100M JSON, so no "
                             "labels; use --detector model or --detector mediapipe.")
        path = annotations_from_folder(args.crops, _pool_file(args.out), left_right=args.hand)
    root = args.crops if args.crops.is_dir() else None
    report = mine_annotations(
        path, args.out, source=keypoint_source(args.detector, args.model, args.min_confidence),
        root=root, k=args.k, scale_by=args.scale_by,
        rotation=args.rotation, pca_dim=args.pca_dim or None, window=args.window,
        index=args.index, resume=not args.no_resume)
    if report.skipped:
        listing = args.out.with_name(args.out.name + ".skipped.txt")
        write_text(listing, "".join(f"{h}\t{why}\n" for h, why in report.skipped))
        print(f"{len(report.skipped)} crops without a detectable hand: see {listing}")
    print(report.summary())
    return 0
