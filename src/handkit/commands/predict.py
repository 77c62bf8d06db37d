"""`handkit predict`: 3D hand keypoints on your own images (a file or a folder)."""

from __future__ import annotations

import argparse
from pathlib import Path

from handkit.commands._types import number

HELP = "predict 2D/3D hand keypoints on an image or a folder (JSON + overlay + 3D plot per image)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", metavar="IMAGE_OR_FOLDER")
    parser.add_argument("--ckpt", help="finetune checkpoint (default: the shipped model, "
                        "trained on synthetic hands only); an SMHR checkpoint (handkit train "
                        "smhr) finds every hand of each image itself")
    parser.add_argument("--out", default="runs/predict", help="output folder (default %(default)s)")
    parser.add_argument("--detector", default="auto",
                        choices=["auto", "mediapipe", "handkit", "trained", "centre", "whole"],
                        help="hand finder (auto: MediaPipe if installed, the extra "
                        "handkit[mediapipe], else the trained detector if --detector-ckpt is "
                        "given, else handkit's crop scoring; centre: a centred crop, no "
                        "score; docs/predict.md). DIGIT checkpoints: the union of up to two "
                        "hands' boxes, auto ending in the whole image instead of handkit's "
                        "crop scoring; whole: the whole image (DIGIT only); handkit is refused "
                        "(docs/digit.md)")
    parser.add_argument("--detector-ckpt", metavar="FILE",
                        help="handkit's trained hand detector (handkit train detector) for "
                        "--detector trained / auto")
    parser.add_argument("--threshold", type=number(0, 1),
                        help="the finder's score threshold (default: the finder's, 0.5)")
    parser.add_argument("--passes", type=int, choices=[1, 2],
                        help="crop passes on the found box (default: the finder's)")
    parser.add_argument("--hand", default="auto", choices=["auto", "right", "left"],
                        help="handedness (auto: the detector's; right if unknown)")
    parser.add_argument("--box", type=number(), nargs=4, metavar=("X0", "Y0", "X1", "Y1"),
                        help="the hand's box in pixels (no search of the whole image; "
                        "MediaPipe, when it is the finder, searches the box for its keypoints)")
    parser.add_argument("--mesh-format", default="obj", choices=["obj", "ply"],
                        help="file of the mesh, for models that predict one (default "
                        "%(default)s; written beside the JSON as <name>_mesh.<format>)")
    parser.add_argument("--fit-mesh", action="store_true",
                        help="a model without a mesh: fit one to its 2D keypoints (S2HAND's "
                        "refinement, docs/s2hand.md), camera frame under the assumed K")
    parser.add_argument("--mano", metavar="DIR", help="--fit-mesh with MANO from DIR (default: "
                        "the license-free OpenHand)")
    parser.add_argument("--runtime", default="torch", choices=["torch", "onnx"],
                        help="where the pose network runs (onnx: exported to a temporary "
                        "file and run in onnxruntime; keypoint models; default %(default)s)")
    parser.add_argument("--keypoints", default="auto", choices=["auto", "network", "finder"],
                        help="who gives the keypoints: network (the pose network on the "
                        "found box), finder (the finder's own: MediaPipe's 2D landmarks and "
                        "3D shape, placed under the assumed K; docs/predict.md) or auto (the "
                        "finder's when it has them, else the network; default)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--root-depth", type=number(0), metavar="M",
                        help="DIGIT checkpoints: the right hand's root depth in meters "
                             "(default: assumed 0.7 m)")
    parser.add_argument("--K", type=number(), nargs=4, metavar=("FX", "FY", "CX", "CY"),
                        help="DIGIT checkpoints: the camera's intrinsics in the image's pixels "
                             "(default: assumed, f = max(W, H), principal point at the centre)")


def _run_multihand(args: argparse.Namespace) -> int:
    from handkit.infer.predict_multihand import predict_multihand

    ignored = [flag for flag, value in (("--detector", args.detector != "auto"),
                                        ("--detector-ckpt", args.detector_ckpt is not None),
                                        ("--threshold", args.threshold is not None),
                                        ("--passes", args.passes is not None),
                                        ("--hand", args.hand != "auto"),
                                        ("--box", args.box is not None),
                                        ("--keypoints", args.keypoints != "auto"),
                                        ("--runtime", args.runtime != "torch")) if value]
    if ignored:
        print(f"note: {', '.join(ignored)} ignored: a multi-hand model finds every hand itself "
              "(its score threshold is the checkpoint's model.options.score_threshold)")
    result = predict_multihand(args.source, ckpt=args.ckpt, out_dir=args.out,
                               mesh_format=args.mesh_format, progress=not args.quiet)
    for reason in result.bad:
        print(f"skipped: {reason}")
    print(result.summary())
    if result.hands:
        print(f"wrote a JSON listing every hand, an overlay and a mesh per hand to {args.out}")
    return 0 if result.hands else 1


def _check_box(box, image: Path) -> None:
    """One image and a box off it: a user error about the flag (a folder skips such images)."""
    from PIL import Image, UnidentifiedImageError

    from handkit.infer.predict import check_box_on_image

    try:
        with Image.open(image) as img:  # the header only
            size = img.size
    except (OSError, UnidentifiedImageError):
        return  # not readable: predict reports the image itself
    check_box_on_image(box, *size)


def run(args: argparse.Namespace) -> int:
    if args.box is not None and not (args.box[2] > args.box[0] and args.box[3] > args.box[1]):
        raise ValueError(f"--box: expected X0 Y0 X1 Y1 with X1 > X0 and Y1 > Y0, got "
                         f"{' '.join(f'{v:g}' for v in args.box)}.")
    from handkit.utils.files import output_folder

    output_folder(args.out)  # a file or an unwritable place: refused before any image
    if args.box is not None and Path(args.source).is_file():
        _check_box(args.box, Path(args.source))
    from handkit.infer.predict_digit import is_digit_checkpoint, predict_digit

    digit = is_digit_checkpoint(args.ckpt)
    for flag, value in (("--K", args.K is not None),
                        ("--detector whole", args.detector == "whole")):
        if value and not digit:
            raise ValueError(f"{flag}: only for DIGIT checkpoints (docs/digit.md).")
    if digit:  # two hands per image (docs/digit.md)
        ignored = [f for f, v in (("--passes", args.passes is not None),
                                  ("--hand", args.hand != "auto"),
                                  ("--keypoints", args.keypoints != "auto")) if v]
        if ignored:
            print(f"note: {', '.join(ignored)} ignored: DIGIT predicts both hands of one crop")
        K = None
        if args.K is not None:
            fx, fy, cx, cy = args.K
            if not (fx > 0 and fy > 0):
                raise ValueError(f"--K: expected focal lengths FX, FY > 0, got {fx:g} {fy:g}.")
            K = [[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]]
        run_ = predict_digit(args.source, ckpt=args.ckpt, out_dir=args.out, box=args.box,
                             root_depth=args.root_depth, detector=args.detector,
                             threshold=args.threshold, detector_ckpt=args.detector_ckpt, K=K)
        for path, why in run_.skipped:
            print(f"skipped {path}: {why}")
        print(f"DIGIT: {len(run_.records)} images, both hands each; wrote JSON and overlays "
              f"to {args.out}")
        return 0 if run_.records else 1
    from handkit.infer.predict import predict
    from handkit.infer.predict_multihand import is_multihand_checkpoint

    if args.ckpt and is_multihand_checkpoint(args.ckpt):
        return _run_multihand(args)

    result = predict(args.source, ckpt=args.ckpt, out_dir=args.out, detector=args.detector,
                     threshold=args.threshold, hand=args.hand, box=args.box,
                     passes=args.passes, mesh_format=args.mesh_format,
                     fit_mesh=args.fit_mesh, mano_dir=args.mano,
                     detector_ckpt=args.detector_ckpt, runtime=args.runtime,
                     keypoints=args.keypoints, progress=not args.quiet)
    notes = sorted({n for r in result.results for n in r.notes})
    for note in notes:
        print(f"note: {note}")
    print(result.summary())
    if result.results or result.no_hand:
        meshes = " and mesh file" if any(r.vertices_rel_m is not None for r in result.results) \
            else ""
        print(f"wrote JSON (and for each hand an overlay, a 3D plot{meshes}) to {args.out}")
    return 0 if result.results or result.no_hand else 1
