"""Which changes to the synthetic world transfer to real photos: an ablation (docs/synth.md).

For every look (an `appearance.domain` name such as ``default+forearm``): synthesize a small
FreiHAND-layout world, fine-tune the same model from the same starting weights (by default the
shipped checkpoint, RN_25D ResNet-18 at 96 px) for the same number of steps, and score the
result on the real development photos with benchmarks/real_photos.py's scoring: the network on
each labelled box, one crop pass, PCK@0.1 of the box and mean pixel error per source, beside
the mean pose placed in the same box (it ignores the image) and the starting weights.

    flock /tmp/handkit-bench.lock nice -n 5 .venv/bin/python benchmarks/synth_ablation.py \\
        --realdata ../shared/realdata --out runs/ablation

The development set (27 images, 35 hands) is far too small for a benchmark number: read the
table as counts of hands, look at the overlays, and do not tune on it (the result is checked
on other photos). Same (n, seed) ⇒ the same poses and cameras in every look: the looks differ
only in what the option adds (see docs/synth.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from importlib import resources
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import real_photos as rp  # noqa: E402  (same folder: its loader, mean pose and scoring)

from handkit.data.synth.runner import synthesize  # noqa: E402
from handkit.infer.predict import predict_hand  # noqa: E402
from handkit.models.checkpoint import load_model  # noqa: E402
from handkit.tasks.finetune import FinetuneConfig, FinetuneTask  # noqa: E402
from handkit.tasks.finetune_data import FinetuneDataModule  # noqa: E402
from handkit.tasks.runner import train  # noqa: E402
from handkit.utils.config import load_config  # noqa: E402

LOOKS = ("default", "default+forearm", "transfer", "default:6", "default+backgrounds",
         "default+camera", "default+skin")
"""The ablation's entries, most telling first: ``LOOK`` or ``LOOK:TRAIN_SEED`` (the same world
fine-tuned with another seed: the run-to-run spread a difference must exceed)."""


def score(net, photos: list, pose: np.ndarray | None = None) -> dict[str, rp.Tally]:
    """Per source, the network (or, with `pose`, the mean pose) on every labelled box."""
    out: dict[str, rp.Tally] = {}
    for photo in photos:
        for hand in photo.hands:
            if pose is not None:
                uv = rp.place(pose, hand.box, hand.is_right)
            else:
                uv = predict_hand(net, photo.image, hand.box, left=hand.is_right is False,
                                  passes=1)[0]
            out.setdefault(photo.source, rp.Tally()).add(uv, hand)
    return out


def row(name: str, tallies: dict[str, rp.Tally], extra: str = "") -> str:
    total = rp.total_of(tallies, [s for s in rp.SOURCES if s != "rhd"])
    cells = [tallies.get(s, rp.Tally()).cell().rsplit(" · ", 1)[0] for s in rp.SOURCES]
    return (f"| {name} | " + " | ".join(cells) + f" | {total.cell().rsplit(' · ', 1)[0]} |"
            + (f" {extra} |" if extra else ""))


def finetune_on(world: Path, init_ckpt: str | None, steps: int, args, seed: int, out: Path):
    """Fine-tune the model of `init_ckpt` (None: the shipped checkpoint) on `world` for
    `steps` steps with training seed `seed`; returns the trained net (eval mode)."""
    config = resources.files("handkit") / "configs" / "finetune" / "cpu_rn25d.yaml"
    cfg = load_config(FinetuneConfig, Path(str(config)), overrides=[
        f"data.root={world}", f"trainer.max_steps={steps}", "trainer.max_epochs=1000",
        f"threads={args.threads}", f"optim.lr={args.lr}", "optim.head_lr_mult=1.0",
        f"optim.warmup_steps={min(20, steps // 5)}", "trainer.progress_bar=false",
        f"data.batch_size={args.batch}", f"seed={seed}"])
    holder = {}

    def build(c):
        net, _ = load_model(init_ckpt)
        holder["task"] = FinetuneTask(net.train(), c)
        return holder["task"], FinetuneDataModule(c.data, c.seed)

    train(cfg, build, out)
    return holder["task"].net.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    rp.add_realdata_argument(parser)
    parser.add_argument("--out", default="runs/synth_ablation", help="work folder")
    parser.add_argument("--looks", default=",".join(LOOKS),
                        help="comma-separated LOOK or LOOK:TRAIN_SEED entries")
    parser.add_argument("--stop-at", default=None,
                        help="UTC HH:MM: start no further entry after this time (shared CPU)")
    parser.add_argument("--n", type=int, default=2000, help="synthetic images per look")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=11, help="seed of the synthetic worlds")
    parser.add_argument("--steps", type=int, default=150, help="fine-tuning steps per look")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--train-seed", type=int, default=5, help="for entries without one")
    parser.add_argument("--init", default=None, help="starting checkpoint (default: shipped)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    rp.require_realdata(args, "synth_ablation")
    torch.set_num_threads(args.threads)
    t_all = time.perf_counter()
    photos = rp.load_realdata(Path(args.realdata))
    out = Path(args.out)
    header = ("| world (look) | " + " | ".join(rp.SOURCES) +
              " | all real | synth s · train s |")
    rows = [row("mean pose in the labelled box (reference)",
                score(None, photos, rp.mean_pose(rp.synthetic_poses()[0])), "–")]
    start, _ = load_model(args.init)
    rows.append(row(f"starting weights ({args.init or 'shipped checkpoint'}), no fine-tuning",
                    score(start, photos), "–"))
    print(rows[0], rows[1], sep="\n", flush=True)
    for entry in args.looks.split(","):
        if args.stop_at and time.strftime("%H:%M", time.gmtime()) >= args.stop_at:
            print(f"skipped {entry}: past --stop-at {args.stop_at} UTC", flush=True)
            continue
        look, _, train_seed = entry.partition(":")
        t0 = time.perf_counter()
        world = synthesize("freihand", out / look / "world", args.n, seed=args.seed,
                           size=args.size, workers=args.workers, progress=False, appearance=look)
        t1 = time.perf_counter()
        seed = int(train_seed) if train_seed else args.train_seed
        net = finetune_on(world, args.init, args.steps, args, seed,
                          out / look / f"run_seed{seed}")
        t2 = time.perf_counter()
        torch.set_num_threads(args.threads)
        name = f"`{look}`" + (f", training seed {seed}" if train_seed else "")
        rows.append(row(name, score(net, photos), f"{t1 - t0:.0f} · {t2 - t1:.0f}"))
        print(rows[-1], flush=True)
    print(f"\n{len(photos)} images, {sum(len(p.hands) for p in photos)} hands from "
          f"{args.realdata}; {args.n} images at {args.size} px per look (seed {args.seed}), "
          f"{args.steps} steps of {args.batch} at lr {args.lr}; total "
          f"{time.perf_counter() - t_all:.0f} s")
    print("cells: PCK@0.1 of the labelled box · mean error px (network on the labelled box, "
          "1 pass)")
    print(header)
    print("|---|" + "---|" * (len(rp.SOURCES) + 2))
    print("\n".join(rows))


if __name__ == "__main__":
    main()
