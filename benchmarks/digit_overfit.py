"""Can DIGIT fit a few frames? (docs/digit.md "The segmentation ablation": the diagnosis.)

Trains a fresh model on the first `--k` training crops of a `handkit synth interhand` world,
without augmentation, and prints every 25 steps the x, y and z L1 on those frames (hm units
and bins, valid joints only, eval mode) beside the mean pose of the same frames. A model that
can learn at all drives x, y far below the mean pose within a few hundred steps.

`--loss xy` replaces DIGIT's five terms by the x, y L1 alone (the check that the heat-maps and
soft-argmax can be trained); `--depth-bins` is the joints' depth range in bins (official 64;
the heat-map side keeps the official ratio). Seconds to a minute; run it under the benchmark
lock like any training: `flock /tmp/handkit-bench.lock nice -n 5 .venv/bin/python
benchmarks/digit_overfit.py --world runs/overfit_world`.
"""

from __future__ import annotations

import argparse
import time

import torch

from handkit.data.formats.interhand import InterHand26M
from handkit.data.hands import collate_items
from handkit.data.synth.runner import synthesize
from handkit.tasks.digit import DigitConfig, build_digit_task
from handkit.tasks.digit_data import DigitCrops
from handkit.utils.config import config_path, load_config, replace_config


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--world", required=True, help="folder of the world (made if missing)")
    p.add_argument("--n", type=int, default=400, help="images of the world")
    p.add_argument("--world-size", type=int, default=128)
    p.add_argument("--k", type=int, default=32, help="frames to fit")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--backbone", default="stem4")
    p.add_argument("--init", default=None, help="encoder weights file (e.g. rn25d_r18_synth.pt)")
    p.add_argument("--segmentation", default="fused", choices=("fused", "auxiliary", "none"))
    p.add_argument("--depth-bins", type=int, default=64)
    p.add_argument("--loss", default="digit", choices=("digit", "xy"))
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    root = synthesize("interhand", a.world, a.n, seed=0, size=a.world_size, progress=False)
    cfg = load_config(DigitConfig, config_path("digit/cpu_synth", "digit"),
                      [f"model.image_size={a.image_size}", f"model.backbone={a.backbone}"])
    cfg = replace_config(cfg, {"init": a.init, "model.options": {
        "size": "small", "segmentation": a.segmentation, "depth_bins": a.depth_bins}})
    task = build_digit_task(cfg)
    crops = DigitCrops(InterHand26M(str(root), "train"), list(range(a.k)), a.image_size, None)
    items = [crops[i] for i in range(a.k)]
    probe = collate_items(items[:a.batch])
    opt = torch.optim.Adam(task.net.parameters(), lr=a.lr)
    t0 = time.perf_counter()
    for step in range(a.steps):
        batch = collate_items([items[i] for i in torch.randperm(a.k)[:a.batch].tolist()])
        task.net.train()
        if a.loss == "xy":
            out, tg = task.net(batch["image"]), task._targets(batch)
            v = tg.joint_valid.bool()
            loss = (out.joints[..., :2] - tg.joints[..., :2]).abs()[v].mean()
        else:
            loss = task.losses(batch)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 25 == 0 or step == a.steps - 1:
            task.net.eval()
            with torch.no_grad():
                out, tg = task.net(probe["image"]), task._targets(probe)
            v = tg.joint_valid.bool()
            truth = tg.joints.clone()
            truth[~v] = float("nan")
            mean = truth.nanmean(0, keepdim=True).expand_as(truth)
            err = (out.joints - tg.joints).abs()
            ref = (mean - tg.joints).abs()
            print(f"step {step:4d} {time.perf_counter() - t0:5.0f} s  loss {loss.item():7.3f}  "
                  f"xy L1 {float(err[..., :2][v].mean()):.2f} (mean pose "
                  f"{float(ref[..., :2][v].mean()):.2f}) hm  z L1 {float(err[..., 2][v].mean()):.2f}"
                  f" (mean pose {float(ref[..., 2][v].mean()):.2f}) bins", flush=True)


if __name__ == "__main__":
    main()
