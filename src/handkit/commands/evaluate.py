"""`handkit evaluate`: a fine-tuned checkpoint on a labelled test split → table, JSON, PNGs."""

from __future__ import annotations

import argparse

from handkit.commands._types import integer

HELP = "evaluate a fine-tuned checkpoint: MPJPE, PA-MPJPE, AUC, PCK table + JSON + PNG figures"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ckpt", help="finetune checkpoint (default: the shipped one)")
    parser.add_argument("--data", required=True, metavar="DIR", help="dataset folder")
    parser.add_argument("--format", default="auto", help="dataset format (default: detect)")
    parser.add_argument("--split", default="test",
                        help="split (default test = FreiHAND evaluation)")
    parser.add_argument("--preset", default="freihand",
                        choices=["freihand", "peclr", "minimal_hand"],
                        help="PCK/AUC thresholds (default: the FreiHAND leaderboard's)")
    parser.add_argument("--crop", default="auto", choices=["auto", "two_pass", "gt_box"],
                        help="test-time crop (auto: two_pass on FreiHAND, else gt_box)")
    parser.add_argument("--batch-size", type=integer(1), default=32, help="images per batch")
    parser.add_argument("--limit", type=integer(1), help="evaluate the first N samples only")
    parser.add_argument("--out", default="runs/evaluate",
                        help="folder for metrics.json, pck.png, gallery.png (default %(default)s)")
    parser.add_argument("--gallery", type=integer(0), default=16,
                        help="hands (SMHR: images, every hand drawn) in gallery.png")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--root-depth", default="gt", choices=["gt", "rootnet"],
                        help="DIGIT checkpoints (InterHand2.6M layout): absolute root depths and "
                             "boxes from the GT or from rootnet_output/ (the official default)")
    parser.add_argument("--subset", default="",
                        help="DIGIT checkpoints: an official subset (smallval, minitest, ...)")
    parser.add_argument("--reference", choices=["mean-pose"],
                        help="InterHand2.6M layout without --ckpt: score the mean-pose reference "
                             "(the train split's mean 2.5D, relative root and handedness)")
    parser.add_argument("--detections", metavar="FILE",
                        help="s2hand checkpoints: the input detections of the 2D report, a JSON "
                        "in S2HAND's layout (detect2d; default: the labels, so 'detected' is 0)")
    parser.add_argument("--image-size", type=integer(32), default=256,
                        help="with --reference: the crop size it is fitted at (default 256)")


def _run_multihand(args: argparse.Namespace) -> int:
    """SMHR checkpoints: detection AP, handedness, 2D and PA-MPJPE of matched hands."""
    from pathlib import Path

    from torch.utils.data import Subset

    from handkit.data.formats import detect_format, open_dataset
    from handkit.infer.evaluate_multihand import evaluate_multihand
    from handkit.models.checkpoint import load_model
    from handkit.utils.files import write_json

    fmt = detect_format(args.data) if args.format == "auto" else args.format
    split = "all" if fmt == "multihand" and args.split == "test" else args.split
    dataset = open_dataset(fmt, args.data, split)
    if args.limit:
        dataset = Subset(dataset, range(min(args.limit, len(dataset))))
    net, _ = load_model(args.ckpt)
    metrics = evaluate_multihand(net, dataset, batch_size=args.batch_size, gt_centres=True,
                                 gallery=Path(args.out) / "gallery.png" if args.gallery else None,
                                 gallery_images=args.gallery)
    for name, value in metrics.items():
        print(f"{name:>12}: {value:.4f}" if isinstance(value, float) else f"{name:>12}: {value}")
    print("definitions: docs/smhr.md (AP at keypoint similarity >= 0.5, kappa 0.1; handedness, "
          "uv_px, ks and pa_mpjpe_mm on Hungarian-matched hands; gtc_*: read at every labelled "
          "hand's centre, no detection)")
    path = write_json(Path(args.out) / "metrics.json",
                      {"checkpoint": str(args.ckpt), "data": str(args.data), "split": split,
                       "metrics": metrics})
    print(f"wrote {path}")
    return 0


def run(args: argparse.Namespace) -> int:
    from handkit.infer.predict_digit import is_digit_checkpoint
    from handkit.utils.files import output_folder

    output_folder(args.out)  # refused before the evaluation, not after it
    if args.detections:
        from pathlib import Path

        if not Path(args.detections).is_file():
            raise FileNotFoundError(f"--detections: no such file: {args.detections}")

    if args.reference or is_digit_checkpoint(args.ckpt):
        from handkit.infer.evaluate_digit import (MeanPose, evaluate_interhand, report_lines,
                                                  write_report)

        if args.reference and args.ckpt:
            raise ValueError("--reference: scores a reference instead of a checkpoint; drop "
                             "--ckpt.")
        model = MeanPose.fit(args.data, "train", image_size=args.image_size) if \
            args.reference else args.ckpt
        report = evaluate_interhand(model, args.data, split=args.split,
                                    subset=args.subset, root_depth=args.root_depth,
                                    batch_size=args.batch_size, limit=args.limit,
                                    gallery=args.gallery, gallery_path=f"{args.out}/gallery.png")
        print("\n".join(report_lines(report)))
        written = write_report(report, args.out) + ([f"{args.out}/gallery.png"]
                                                    if args.gallery else [])
        print("wrote " + ", ".join(str(p) for p in written))
        return 0
    from handkit.infer.predict_multihand import is_multihand_checkpoint

    if args.ckpt and is_multihand_checkpoint(args.ckpt):
        return _run_multihand(args)
    from handkit.eval.scoring import summary_lines
    from handkit.infer.evaluate import evaluate

    report = evaluate(args.ckpt, args.data, format=args.format, split=args.split,
                      preset=args.preset, crop=args.crop, batch_size=args.batch_size,
                      limit=args.limit, out_dir=args.out, gallery=args.gallery,
                      progress=not args.quiet)
    report.print()
    print("definitions:")
    print("\n".join(summary_lines(report)))
    print(f"wrote {args.out}/metrics.json, {args.out}/pck.png, {args.out}/gallery.png")
    from handkit.infer.evaluate_s2hand import is_s2hand_checkpoint

    if is_s2hand_checkpoint(args.ckpt):
        _run_s2hand_2d(args)
    elif args.detections:
        raise ValueError("--detections: only s2hand checkpoints take input detections.")
    return 0


def _run_s2hand_2d(args: argparse.Namespace) -> None:
    """S2HAND's 2D report, its PCK figure and the mesh gallery, on whole images."""
    from handkit.data.s2hand import S2HandDataConfig
    from handkit.infer.evaluate_s2hand import evaluate_2d, report_lines

    det = S2HandDataConfig(root=str(args.data), keypoints="file", detections=args.detections) \
        if args.detections else None
    out = args.out
    report = evaluate_2d(args.ckpt, args.data, split=args.split, format=args.format,
                         detections=det, batch_size=args.batch_size, limit=args.limit,
                         out=f"{out}/report_2d.json", pck_figure=f"{out}/pck_2d.png",
                         gallery=min(args.gallery, 8), gallery_path=f"{out}/s2hand_gallery.png")
    print("\n".join(report_lines(report)))
    print(f"wrote {out}/report_2d.json, {out}/pck_2d.png"
          + (f", {out}/s2hand_gallery.png" if args.gallery else ""))
