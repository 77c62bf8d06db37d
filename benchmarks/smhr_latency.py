"""SMHR latency per image for 1-4 hands, beside the two-stage alternative (issue 16 item 6).

Run alone: `flock /tmp/handkit-bench.lock nice -n 5 .venv/bin/python benchmarks/smhr_latency.py
[--size 384] [--backbone resnet50] [--channels 256] [--repeats 5] [--threads 2]
[--detector auto|mediapipe|none]`.

The images are the synthetic multi-hand world's (`multi_hand_scene(0, 0, size, hands=n)`):
n rendered hands on a background, so a real detector has hands to find.

- **single stage**: `SMHR.predict` on the S×S image (backbone + neck + heads, NMS, top-4,
  posing every peak's hand; OpenHand), at the official size (`--backbone`, `--channels`) and
  at the CPU twin's width (ResNet-18, 64 channels) at the same S. The network does not know
  how many hands the image has: its work is the same for 1 and 4, which is the point.
- **two stage** = a detector on the image + the single-hand crop model (RN_25D_wMLPref,
  `--crop-backbone` at `--crop-size` px) on the n hands' crops as one batch:
  - ``detector``: MediaPipe Hands (`infer.finders.MediaPipeFinder`, palm detector + its
    landmark model per found hand, in this process; ``auto`` = MediaPipe when installed).
    The hands it found are printed: synthetic hands are not always found. handkit's own
    finder is not used: it looks only at the image's centre and finds at most one hand.
  - ``crops``: cropping and the crop model on the scene's n true boxes (so this column is
    exactly n hands whatever the detector found).
- ``--photos DIR`` (e.g. the team's real development photos, read where they are, never
  copied): MediaPipe's time per photo grouped by how many hands it found there, since on
  synthetic images it finds few and its landmark model runs once per found hand.

Random network weights (latency does not depend on them); median of `--repeats` runs after
one warm-up (`utils.timing.median_time`: wall and process CPU), `torch.set_num_threads`.
"""

import argparse
import os
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from handkit.data.crop import box_crop_matrix, warp_crop
from handkit.data.synth.multi import multi_hand_scene
from handkit.external.mediapipe import mediapipe_available
from handkit.models.registry import create_model
from handkit.utils.timing import median_time


def _smhr(backbone: str, size: int, channels: int):
    return create_model("smhr", backbone=backbone, image_size=size, hand_model="openhand",
                        channels=channels, max_hands=4).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--backbone", default="resnet50")
    parser.add_argument("--channels", type=int, default=256)
    parser.add_argument("--crop-backbone", default="resnet50")
    parser.add_argument("--crop-size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--detector", default="auto", choices=["auto", "mediapipe", "none"])
    parser.add_argument("--photos", default=None, help="a folder of photos: detector time by "
                        "hands found")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    detector = None
    name = args.detector
    if name == "auto":
        name = "mediapipe" if mediapipe_available() else "none"
    if name == "mediapipe":
        from handkit.infer.finders import MediaPipeFinder

        detector = MediaPipeFinder(max_hands=4)
    nets = {f"{args.backbone}/{args.channels}": _smhr(args.backbone, args.size, args.channels),
            "resnet18/64": _smhr("resnet18", args.size, 64)}
    crop_net = create_model("rn25d", backbone=args.crop_backbone,
                            image_size=args.crop_size).eval()
    s = args.crop_size
    K = torch.tensor([[2.0 * s, 0, s / 2], [0, 2.0 * s, s / 2], [0, 0, 1]])
    print(f"{datetime.now(timezone.utc).isoformat(timespec='seconds')}, load "
          f"{os.getloadavg()[0]:.2f}, {args.threads} threads, median of {args.repeats} after one "
          f"warm-up; ms per image, wall (process CPU)")
    cols = [f"SMHR {k} at {args.size} px" for k in nets]
    print(f"| hands | {' | '.join(cols)} | detector: {name} (hands found) | crops + "
          f"{args.crop_backbone} at {s} px | two stage total |")
    print("|---|" + "---|" * (len(cols) + 3))
    for n in (1, 2, 3, 4):
        scene = multi_hand_scene(0, 0, args.size, hands=n)
        image = scene.image
        x = next(iter(nets.values())).preprocess(torch.from_numpy(image).permute(2, 0, 1)[None])
        cells = []
        for net in nets.values():
            def single(net=net) -> None:
                with torch.no_grad():
                    net.predict(x)

            # measured again for every n: the claim that it does not change is what is tested
            wall, cpu = median_time(single, args.repeats)
            cells.append(f"{1000 * wall:.0f} ({1000 * cpu:.0f})")
        boxes = [h.box for h in scene.hands]

        def crops() -> None:
            batch = np.stack([warp_crop(image, box_crop_matrix(np.asarray(b), s), s)
                              for b in boxes])
            batch = crop_net.preprocess(torch.from_numpy(batch).permute(0, 3, 1, 2))
            with torch.no_grad():
                crop_net(batch, K.expand(n, 3, 3))

        c_wall, c_cpu = median_time(crops, args.repeats)
        if detector is None:
            det, total = "not run", "n/a"
        else:
            found = len(detector.find_hands(image))
            d_wall, d_cpu = median_time(lambda: detector.find_hands(image), args.repeats)
            det = f"{1000 * d_wall:.0f} ({1000 * d_cpu:.0f}), {found} found"
            total = f"{1000 * (d_wall + c_wall):.0f} ({1000 * (d_cpu + c_cpu):.0f})"
        print(f"| {n} | {' | '.join(cells)} | {det} | {1000 * c_wall:.0f} "
              f"({1000 * c_cpu:.0f}) | {total} |")
    if args.photos and detector is not None:
        _photos(detector, Path(args.photos), args.repeats, args.size)
    print(f"load at the end {os.getloadavg()[0]:.2f}")


def _photos(detector, folder: Path, repeats: int, size: int) -> None:
    """The detector's median time per photo (each scaled to `size` on its longer side, as the
    two-stage path would see a network-sized image), grouped by hands found."""
    import cv2

    by_found: dict[int, list[float]] = {}
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    for path in paths:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            continue
        image = np.ascontiguousarray(image[..., ::-1])
        k = size / max(image.shape[:2])
        image = cv2.resize(image, (round(image.shape[1] * k), round(image.shape[0] * k)))
        found = len(detector.find_hands(image))
        by_found.setdefault(found, []).append(
            median_time(lambda: detector.find_hands(image), repeats)[0])
    print(f"detector on {len(paths)} photos of {folder} (longer side {size} px): "
          "| hands found | photos | median ms |")
    for found in sorted(by_found):
        print(f"| {found} | {len(by_found[found])} | {1000 * np.median(by_found[found]):.0f} |")


if __name__ == "__main__":
    main()
