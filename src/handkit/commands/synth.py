"""`handkit synth`: write a synthetic dataset in a real dataset's layout."""

from __future__ import annotations

import argparse

from handkit.commands._types import integer

HELP = "generate synthetic labeled hands in the FreiHAND/InterHand2.6M/Hand100M/multi-hand layout"
FORMATS = ("freihand", "interhand", "hand100m", "multihand")


def hand_range(text: str) -> tuple[int, int]:
    """``--hands``: ``N`` or ``LO-HI`` → (LO, HI) (checked against 1-4 by the synthesizer)."""
    parts = text.split("-")
    try:
        lo, hi = (int(parts[0]), int(parts[-1])) if len(parts) <= 2 else (None, None)
    except ValueError:
        lo = hi = None
    if lo is None:
        raise argparse.ArgumentTypeError(f"expected a count (3) or a range (1-4), got {text!r}")
    return lo, hi


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("format", help=f"dataset layout, one of {', '.join(FORMATS)}")
    parser.add_argument("--out", required=True, help="output folder (resumed if it exists)")
    parser.add_argument("--n", type=integer(1), required=True, help="number of samples (> 0)")
    parser.add_argument("--seed", type=integer(0), default=0, help="random seed")
    parser.add_argument("--size", type=integer(1), default=None, help="image size in px (format default)")
    parser.add_argument("--workers", type=integer(1), default=1, help="worker processes")
    parser.add_argument("--preview", default=None, help="write a contact sheet PNG here")
    parser.add_argument("--appearance", default="default",
                        help="look distribution: default; shifted (darker skin, dim coloured "
                             "light, photo backgrounds, more occluders/blur; a held-out look); "
                             "transfer (forearms, skin detail, camera effects, real-photo-like "
                             "backgrounds); or BASE+OPTION+... with options forearm, skin, "
                             "camera, backgrounds (e.g. default+forearm)")
    parser.add_argument("--hands", type=hand_range, default=None,
                        help="multihand only: hands per image, a count (3) or a range (1-4) "
                             "within 1-4; default 2-4")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from handkit.data.synth.runner import synthesize
    from handkit.utils.files import output_file

    if args.preview:
        output_file(args.preview)  # refused before the dataset is written, not after
    out = synthesize(args.format, args.out, args.n, seed=args.seed, size=args.size,
                     workers=args.workers, preview=args.preview, progress=not args.quiet,
                     appearance=args.appearance, hands=args.hands)
    print(f"wrote {args.n} {args.format} samples to {out}")
    return 0
