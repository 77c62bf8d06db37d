"""DIGIT's crop on real two-hand photos: does the crop `predict` picks for a DIGIT checkpoint
(`infer.predict_digit`: the union of the finder's boxes, else the whole image) hold both hands'
labelled joints, and how large is it against the labelled hands?

On the InterHand2.6M images of the realdata folder (never copied into the repository; README
there), per image: hands labelled, boxes the finder found, the crop rule used, the share of
labelled joints inside the square crop, and the crop's side over the side of the labelled
joints' union box (DIGIT is trained on ground-truth boxes made square × 1.25, so ≈ 1.25-1.4 is
what the network expects; larger means smaller hands in its input). Needs no checkpoint.

    flock /tmp/handkit-bench.lock nice -n 10 .venv/bin/python benchmarks/digit_real_crop.py \\
        --realdata ../shared/realdata [--detector mediapipe]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from handkit.infer.predict_digit import MARGIN, _crop, digit_finder
from real_photos import add_realdata_argument, load_realdata, require_realdata


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_realdata_argument(parser)
    parser.add_argument("--detector", default="auto", help="DIGIT's finder (default auto)")
    parser.add_argument("--sources", nargs="+", default=["interhand26m"])
    args = parser.parse_args()
    require_realdata(args, "digit_real_crop")
    finder = digit_finder(args.detector)
    print(f"finder: {finder.name if finder else 'none (whole image)'}; margin {MARGIN}")
    print("| image | hands labelled | boxes found | crop | joints inside "
          "| crop side / labelled side |")
    print("|---|---:|---:|---|---:|---:|")
    for photo in load_realdata(Path(args.realdata)):
        if photo.source not in args.sources:
            continue
        centre, (side, _), info = _crop(photo.image, None, finder, MARGIN)
        kp = np.concatenate([h.kp for h in photo.hands])
        kp = kp[np.isfinite(kp).all(1)]
        inside = float(((kp >= centre - side / 2) & (kp <= centre + side / 2)).all(1).mean())
        labelled = float((kp.max(0) - kp.min(0)).max())
        found = len(info["finder"]["found"]) if info.get("finder") else 0
        print(f"| {photo.file} | {len(photo.hands)} | {found} | {info['source']} | "
              f"{inside:.2f} | {side / labelled:.2f} |")


if __name__ == "__main__":
    main()
