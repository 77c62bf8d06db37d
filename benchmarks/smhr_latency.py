"""SMHR latency per image for 1-4 hands, beside the two-stage alternative (issue 16 item 6).

Run alone: `flock /tmp/handkit-bench.lock .venv/bin/python benchmarks/smhr_latency.py
[--size 384] [--backbone resnet50] [--channels 256] [--repeats 5] [--threads 2]`.

- **single stage**: `SMHR.predict` on one S×S image (backbone + neck + heads, NMS, top-4,
  posing every peak's hand; OpenHand). The network does not know how many hands the image
  has: its work is the same for 1 and 4, which is the point of the design.
- **two stage**: crop each hand (its box known: an *oracle* detector, so detection costs 0
  here and the two-stage numbers are a lower bound) and run the single-hand crop model
  (RN_25D_wMLPref, `--crop-backbone` at 224 px) on the n crops as one batch.

Random weights (latency does not depend on them); median of `--repeats` runs after one
warm-up, `time.perf_counter`, `torch.set_num_threads(--threads)`.
"""

import argparse

import numpy as np
import torch

from handkit.data.crop import box_crop_matrix, warp_crop
from handkit.models.registry import create_model
from handkit.utils.timing import median_time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--backbone", default="resnet50")
    parser.add_argument("--channels", type=int, default=256)
    parser.add_argument("--crop-backbone", default="resnet50")
    parser.add_argument("--crop-size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    smhr = create_model("smhr", backbone=args.backbone, image_size=args.size,
                        hand_model="openhand", channels=args.channels, max_hands=4).eval()
    crop_net = create_model("rn25d", backbone=args.crop_backbone,
                            image_size=args.crop_size).eval()
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (args.size, args.size, 3), dtype=np.uint8)
    x = smhr.preprocess(torch.from_numpy(image).permute(2, 0, 1)[None])
    q = args.size / 4  # one hand per quadrant, a box of half a quadrant
    boxes = [np.array([cx - q / 2, cy - q / 2, cx + q / 2, cy + q / 2]) for cx, cy in
             ((q, q), (3 * q, q), (q, 3 * q), (3 * q, 3 * q))]
    s = args.crop_size
    K = torch.tensor([[2.0 * s, 0, s / 2], [0, 2.0 * s, s / 2], [0, 0, 1]])

    def single() -> None:
        with torch.no_grad():
            smhr.predict(x)

    print(f"| hands | single stage ms ({args.backbone}, {args.size} px) | two stage ms "
          f"(oracle boxes + {args.crop_backbone} at {s} px) |")
    print("|---|---|---|")
    for n in (1, 2, 3, 4):
        def two() -> None:
            crops = [warp_crop(image, box_crop_matrix(b, s), s) for b in boxes[:n]]
            batch = crop_net.preprocess(torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2))
            with torch.no_grad():
                crop_net(batch, K.expand(n, 3, 3))

        # measured again for every n: the claim that it does not change is what is tested
        print(f"| {n} | {1000 * median_time(single, args.repeats)[0]:.0f} | "
              f"{1000 * median_time(two, args.repeats)[0]:.0f} |")


if __name__ == "__main__":
    main()
