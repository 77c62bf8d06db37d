"""`handkit predict`: 3D hand keypoints on your own images (a file or a folder)."""

from __future__ import annotations

import argparse

from handkit.commands._types import number

HELP = "predict 2D/3D hand keypoints on an image or a folder (JSON + overlay + 3D plot per image)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", metavar="IMAGE_OR_FOLDER")
    parser.add_argument("--ckpt", help="finetune checkpoint (default: the shipped model, "
                        "trained on synthetic hands only)")
    parser.add_argument("--out", default="runs/predict", help="output folder (default %(default)s)")
    parser.add_argument("--detector", default="auto", choices=["auto", "mediapipe", "centre"],
                        help="hand finder (auto: MediaPipe if set up, else a centred crop)")
    parser.add_argument("--mediapipe-python", help="MediaPipe's own venv python (default "
                        "$HANDKIT_MEDIAPIPE_PYTHON; set-up: docs/mining.md)")
    parser.add_argument("--hand", default="auto", choices=["auto", "right", "left"],
                        help="handedness (auto: the detector's; right if unknown)")
    parser.add_argument("--box", type=number(), nargs=4, metavar=("X0", "Y0", "X1", "Y1"),
                        help="the hand's box in pixels (skips detection)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from handkit.external.mediapipe import find_mediapipe_python
    from handkit.infer.predict import predict

    python = None
    if args.mediapipe_python or args.detector == "mediapipe":  # one clear error up front
        python = find_mediapipe_python(args.mediapipe_python)
    result = predict(args.source, ckpt=args.ckpt, out_dir=args.out, detector=args.detector,
                     hand=args.hand, box=args.box, mediapipe_python=python,
                     progress=not args.quiet)
    notes = sorted({n for r in result.results for n in r.notes})
    for note in notes:
        print(f"note: {note}")
    print(result.summary())
    if result.results:
        print(f"wrote JSON, overlay and 3D plots to {args.out}")
    return 0 if result.results else 1
