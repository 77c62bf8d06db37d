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
    parser.add_argument("--gallery", type=integer(0), default=16, help="hands in gallery.png")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--root-depth", default="gt", choices=["gt", "rootnet"],
                        help="DIGIT checkpoints (InterHand2.6M layout): absolute root depths and "
                             "boxes from the GT or from rootnet_output/ (the official default)")
    parser.add_argument("--subset", default="",
                        help="DIGIT checkpoints: an official subset (smallval, minitest, ...)")
    parser.add_argument("--reference", choices=["mean-pose"],
                        help="InterHand2.6M layout without --ckpt: score the mean-pose reference "
                             "(the train split's mean 2.5D, relative root and handedness)")
    parser.add_argument("--image-size", type=integer(32), default=256,
                        help="with --reference: the crop size it is fitted at (default 256)")


def run(args: argparse.Namespace) -> int:
    from handkit.infer.predict_digit import is_digit_checkpoint

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
    return 0
