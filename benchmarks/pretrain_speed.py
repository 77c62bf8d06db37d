"""Images/s of one full pre-training step, official-style path vs handkit's options.

images/s = 2 · pairs/s (both views of every pair go through the network). One step is
augmentation (both views) + encoder + projection head + PeCLR transform + SiMHand-weighted NT-Xent
(PeCLR_w: `method=peclr`, `loss.weighting=linear`) + backward + LARS(Adam) step, 64 pairs of
224x224 uint8 crops to 128x128 views, the README recipe flags. Decoding is excluded from every
path (see benchmarks/data_pipeline.py): the pool is held in memory as uint8.

Paths, each measured in the same run:
  official   per-sample OpenCV augmenter (`data.augment_reference`, Python `random` draws) in 2
             DataLoader workers, ToTensor + Normalize there; the main process runs the network
             fp32, NCHW, eager, and the loss (`PretrainTask.chunk_loss`).
  handkit    `PretrainTask.training_step` on uint8 batches (batched torch augmentation on the
             device, then the same loss), one option at a time and combined: channels_last, bf16
             autocast (Lightning's "bf16-mixed"), `compile` (torch.compile of encoder + head);
             and with augmentation in DataLoader workers by the OpenCV backend
             (`data.augment_cv2`, parameters from `sample_augment`).

Equivalence check (same run): every handkit variant starts from the official variant's weights
and is given the same batch and augmentation parameters; the loss and the full gradient are
compared with fp32 NCHW eager (tolerances in `TOLERANCE`). The augmentation backends are compared
separately (same parameters, different resamplers: pixels differ by a level or two).

    flock /tmp/handkit-bench.lock .venv/bin/python benchmarks/pretrain_speed.py          # full
    .venv/bin/python benchmarks/pretrain_speed.py --quick                                  # a try
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
import warnings
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from handkit.data.augment import AugmentConfig, augment, sample_augment
from handkit.data.augment_cv2 import apply_augment_cv2
from handkit.data.augment_reference import apply_reference, reference_params_from, sample_reference
from handkit.tasks.optim import LARS, scaled_base_lr, weight_decay_groups
from handkit.tasks.pretrain import (IMAGENET_MEAN, IMAGENET_STD, LossConfig, PretrainConfig,
                                    build_task)

IMAGENET = (IMAGENET_MEAN, IMAGENET_STD)
INPUT = 224
# Against fp32 NCHW eager: loss |Δ| / |loss|; gradient ‖Δg‖ / ‖g‖ over all parameters as a
# multiple of the floor: the change that 1e-3 Gaussian noise on the fp32 input views causes. At
# random init the contrastive gradient is a small difference of nearly equal terms, so that floor
# is already ~0.2 (ResNet-18) to ~0.7 (ResNet-50); fp32 reordering (channels_last, compile) sits
# at a few % of it and bf16 (rounding 4e-3) at ~2x it.
TOLERANCE = {"fp32": (1e-5, 0.1), "bf16": (5e-3, 3.0)}


@dataclass(frozen=True)
class Variant:
    """One way of running the step."""

    name: str
    channels_last: bool = False
    bf16: bool = False
    compile: bool = False
    augment: str = "torch"          # "torch" (in the step) | "cv2_workers" | "official"


def variants() -> list[Variant]:
    return [
        Variant("official (per-sample cv2 workers, fp32 NCHW eager)", augment="official"),
        Variant("handkit: batched torch aug, fp32 NCHW eager"),
        Variant("  + channels_last", channels_last=True),
        Variant("  + bf16 autocast", bf16=True),
        Variant("  + compile", compile=True),
        Variant("  + channels_last + bf16", channels_last=True, bf16=True),
        Variant("  + channels_last + bf16 + compile", channels_last=True, bf16=True, compile=True),
        Variant("  + channels_last + bf16, cv2 aug in workers", channels_last=True, bf16=True,
                augment="cv2_workers"),
    ]


def make_pool(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n smooth random (224, 224, 3) uint8 crops and (n, 21, 2) px keypoints around the centre."""
    rng = np.random.default_rng(seed)
    images = np.stack([cv2.resize(rng.integers(0, 256, (7, 7, 3), dtype=np.uint8), (INPUT, INPUT),
                                  interpolation=cv2.INTER_CUBIC) for _ in range(n)])
    keypoints = (INPUT / 2 + rng.uniform(-0.25, 0.25, (n, 21, 2)) * INPUT).astype(np.float32)
    return images, keypoints


def _to_normalized(view: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 → (3, H, W) float32, ToTensor + Normalize (ImageNet)."""
    x = torch.from_numpy(view).permute(2, 0, 1).float().div_(255.0)
    mean, std = (torch.tensor(v).view(3, 1, 1) for v in IMAGENET)
    return (x - mean) / std


class OfficialPairs(Dataset):
    """Seed-style item: two per-sample OpenCV augmentations of one crop, normalised."""

    def __init__(self, images: np.ndarray, keypoints: np.ndarray, cfg: AugmentConfig):
        self.images, self.keypoints, self.cfg = images, keypoints.astype(np.float64), cfg

    def __len__(self) -> int:
        return 1 << 30

    def __getitem__(self, i: int) -> dict:
        rng = random.Random(i)
        img, kp = self.images[i % len(self.images)], self.keypoints[i % len(self.images)]
        item = {}
        for k in ("1", "2"):
            view, kp_out, _, stored = apply_reference(
                img, kp, sample_reference(self.cfg, rng, img.shape[:2]), self.cfg)
            item[f"views{k}"] = _to_normalized(view)
            item[f"joints{k}"] = torch.from_numpy(kp_out).float()
            item[f"jitter{k}"] = torch.tensor([stored["jitter_x"], stored["jitter_y"]],
                                              dtype=torch.float32)
            item[f"angle{k}"] = torch.tensor(float(stored["angle"]))
        return item


class Cv2Batches(Dataset):
    """Item b = a whole augmented batch: `sample_augment` once, OpenCV applies it per image."""

    def __init__(self, images: np.ndarray, keypoints: np.ndarray, cfg: AugmentConfig, pairs: int):
        self.images, self.keypoints = images, torch.from_numpy(keypoints)
        self.cfg, self.pairs = cfg, pairs

    def __len__(self) -> int:
        return 1 << 30

    def __getitem__(self, b: int) -> dict:
        idx = [(b * self.pairs + i) % len(self.images) for i in range(self.pairs)]
        g = torch.Generator().manual_seed(b)
        item = {}
        for k in ("1", "2"):
            kp = self.keypoints[idx]
            params = sample_augment(kp, (INPUT, INPUT), self.cfg, g)
            views, joints = apply_augment_cv2(self.images[idx], kp, params,
                                              antialias=self.cfg.antialias, normalize=IMAGENET)
            item.update({f"views{k}": views, f"joints{k}": joints.float(),
                         f"jitter{k}": params.jitter.float(), f"angle{k}": params.angle_deg.float()})
        return item


def _init_worker(_: int) -> None:
    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def _loader(dataset: Dataset, batch_size: int | None, workers: int) -> DataLoader:
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers,
                      worker_init_fn=_init_worker if workers else None,
                      persistent_workers=workers > 0, prefetch_factor=2 if workers else None,
                      # spawn: forking after torch.compile (its threads/pools) hangs the workers
                      multiprocessing_context="spawn" if workers else None)


def torch_batches(images: np.ndarray, keypoints: np.ndarray, pairs: int):
    """Endless uint8 batches as `PretrainDataModule` delivers them (positives = same image)."""
    imgs = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    kps = torch.from_numpy(keypoints)
    b = 0
    while True:
        idx = torch.arange(b * pairs, (b + 1) * pairs) % len(imgs)
        yield {"image1": imgs[idx], "keypoints1": kps[idx], "image2": imgs[idx],
               "keypoints2": kps[idx]}
        b += 1


def build(arch: str, v: Variant, init: dict | None = None):
    """The task (from `init` weights when given) and the official LARS(Adam) optimiser."""
    cfg = PretrainConfig(method="peclr", encoder=arch, channels_last=v.channels_last,
                         compile=v.compile, loss=LossConfig(weighting="linear"))
    torch.manual_seed(0)
    task = build_task(cfg)
    if init is not None:
        task.load_state_dict(init)
    oc = cfg.optim
    adam = torch.optim.Adam(weight_decay_groups(task, oc.weight_decay),
                            lr=scaled_base_lr(oc.lr, oc.lr_batch))
    return task, LARS(adam, eta=oc.lars_eta)


def loss_of(task, v: Variant, batch: dict) -> torch.Tensor:
    """The step's loss: augmentation in the step (uint8 batch) or pre-augmented views."""
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=v.bf16):
        if "image1" in batch:
            return task.training_step(batch, 0)
        return task.chunk_loss(batch["views1"], batch["views2"],
                               torch.cat([batch["jitter1"], batch["jitter2"]]),
                               torch.cat([batch["angle1"], batch["angle2"]]),
                               batch["joints1"], batch["joints2"])


def step(task, opt, v: Variant, batch: dict) -> float:
    loss = loss_of(task, v, batch)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return float(loss)


def time_steps(task, opt, v: Variant, batches, warm: int, timed: int) -> list[float]:
    """Seconds per step (fetching the batch included) after `warm` untimed steps."""
    it = iter(batches)
    times = []
    for i in range(warm + timed):
        t0 = time.perf_counter()
        step(task, opt, v, next(it))
        if i >= warm:
            times.append(time.perf_counter() - t0)
    return times


def loss_and_grad(task, v: Variant, batch: dict) -> tuple[float, torch.Tensor]:
    task.zero_grad(set_to_none=True)
    loss = loss_of(task, v, batch)
    loss.backward()
    grad = torch.cat([p.grad.flatten() for p in task.parameters() if p.grad is not None])
    return float(loss.detach()), grad


def pre_augmented(images: np.ndarray, keypoints: np.ndarray, cfg: AugmentConfig, task,
                  backend: str) -> dict:
    """Views of the check batch augmented outside the step with the parameters the step draws
    (`task.generator("augment")`, view 1 then view 2), by "torch", "cv2" or "reference" (per
    image)."""
    g = task.generator("augment")
    imgs = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    kps = torch.from_numpy(keypoints)
    out = {}
    for k in ("1", "2"):
        v, j, p = augment(imgs, kps, cfg, g, normalize=IMAGENET)
        if backend == "cv2":
            v, j = apply_augment_cv2(images, kps, p, antialias=cfg.antialias, normalize=IMAGENET)
        elif backend == "reference":
            v = torch.stack([_to_normalized(apply_reference(
                images[i], keypoints[i].astype(np.float64), reference_params_from(p, i), cfg)[0])
                for i in range(len(images))])
        out.update({f"views{k}": v, f"joints{k}": j.float(), f"jitter{k}": p.jitter.float(),
                    f"angle{k}": p.angle_deg.float()})
    return out


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def run_model(arch: str, pool: tuple[np.ndarray, np.ndarray], pairs: int, warm: int, timed: int,
              workers: int, only: set[str] | None, compile_ok: bool = True
              ) -> tuple[list[tuple], list[tuple]]:
    """Timing rows (variant, median s, images/s) and check rows for one encoder."""
    images, keypoints = pool
    aug = AugmentConfig()
    check_imgs, check_kps = images[:pairs], keypoints[:pairs]
    check_batch = next(torch_batches(check_imgs, check_kps, pairs))
    ref_variant = Variant("fp32 NCHW eager")
    ref_task, _ = build(arch, ref_variant)
    init = {k: v.clone() for k, v in ref_task.state_dict().items()}
    ref_loss, ref_grad = loss_and_grad(ref_task, ref_variant, check_batch)
    checks = []
    views = pre_augmented(check_imgs, check_kps, aug, ref_task, "torch")
    noise = torch.Generator().manual_seed(1)
    for k in ("1", "2"):
        views[f"views{k}"] = views[f"views{k}"] + 1e-3 * torch.randn(
            views[f"views{k}"].shape, generator=noise)
    loss, grad = loss_and_grad(ref_task, ref_variant, views)
    floor = _rel(grad, ref_grad)
    checks.append((f"{arch}: floor: fp32, views + 1e-3 noise", loss, ref_loss,
                   abs(loss - ref_loss) / abs(ref_loss), floor, "info"))
    for backend in ("reference", "cv2"):
        loss, grad = loss_and_grad(ref_task, ref_variant,
                                   pre_augmented(check_imgs, check_kps, aug, ref_task, backend))
        checks.append((f"{arch}: views by {backend} aug, fp32 NCHW eager", loss, ref_loss,
                       abs(loss - ref_loss) / abs(ref_loss), _rel(grad, ref_grad), "info"))
    del ref_task
    rows = []
    for v in variants():
        if (only and not any(s in v.name for s in only)) or (v.compile and not compile_ok):
            continue
        task, opt = build(arch, v, init)
        if v.augment == "torch":      # same weights, same batch, same drawn parameters
            loss, grad = loss_and_grad(task, v, check_batch)
            tol_loss, tol_grad = TOLERANCE["bf16" if v.bf16 else "fp32"]
            tol_grad *= floor
            err_loss, err_grad = abs(loss - ref_loss) / abs(ref_loss), _rel(grad, ref_grad)
            ok = err_loss <= tol_loss and err_grad <= tol_grad
            checks.append((f"{arch}: {v.name.strip(' +')}", loss, ref_loss, err_loss, err_grad,
                           "ok" if ok else "FAIL"))
        if v.augment == "official":
            batches = _loader(OfficialPairs(images, keypoints, aug), pairs, workers)
        elif v.augment == "cv2_workers":
            batches = _loader(Cv2Batches(images, keypoints, aug, pairs), None, workers)
        else:
            batches = torch_batches(images, keypoints, pairs)
        times = time_steps(task, opt, v, batches, warm, timed)
        med = statistics.median(times)
        rows.append((f"{arch}", v.name, med, 2 * pairs / med))
        print(f"  {arch:9s} {v.name:52s} {med:7.2f} s/step {2 * pairs / med:7.1f} img/s "
              f"(steps: {', '.join(f'{t:.2f}' for t in times)})", flush=True)
        del task, opt, batches
    return rows, checks


def time_augmentation(pool: tuple[np.ndarray, np.ndarray], pairs: int, repeats: int) -> dict:
    """Seconds to augment one step's 2·pairs views, main process (median of `repeats`)."""
    images, keypoints = pool[0][:pairs], pool[1][:pairs]
    cfg = AugmentConfig()
    imgs = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    kps = torch.from_numpy(keypoints)

    def reference():
        rng = random.Random(0)
        for _ in range(2):
            for img, kp in zip(images, keypoints.astype(np.float64)):
                _to_normalized(apply_reference(img, kp, sample_reference(cfg, rng, img.shape[:2]),
                                               cfg)[0])

    def batched(compiled: bool):
        g = torch.Generator().manual_seed(0)
        for _ in range(2):
            augment(imgs, kps, cfg, g, normalize=IMAGENET, compiled=compiled)

    def opencv():
        g = torch.Generator().manual_seed(0)
        for _ in range(2):
            apply_augment_cv2(images, kps, sample_augment(kps, (INPUT, INPUT), cfg, g),
                              normalize=IMAGENET)

    out = {}
    for name, fn in (("per-sample reference (cv2)", reference),
                     ("batched torch", lambda: batched(False)),
                     ("batched torch, compiled colour stage", lambda: batched(True)),
                     ("batch params + cv2 per image", opencv)):
        fn()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        out[name] = statistics.median(times)
    return out


def _load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="1 warm-up + 2 timed steps, ResNet-18 only (a try, not a measurement)")
    ap.add_argument("--archs", nargs="+", default=None, help="default resnet18 resnet50")
    ap.add_argument("--pairs", type=int, default=64)
    ap.add_argument("--warm", type=int, default=2, help="untimed steps (compile happens before)")
    ap.add_argument("--timed", type=int, default=5, help="timed steps; the median is reported")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile variants")
    ap.add_argument("--only", nargs="*", default=None,
                    help="run only variants whose name contains one of these strings")
    args = ap.parse_args()
    if args.quick:
        args.warm, args.timed = 1, 2
    archs = args.archs or (["resnet18"] if args.quick else ["resnet18", "resnet50"])
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message=".*self.log.*")
    print(f"start: {_load()}; torch {torch.__version__}, {args.threads} threads, "
          f"{args.workers} workers, {args.pairs} pairs/step, {args.warm} warm-up + "
          f"{args.timed} timed steps", flush=True)
    pool = make_pool(max(4 * args.pairs, 64))
    aug = time_augmentation(pool, args.pairs, 3)
    rows, checks = [], []
    for arch in archs:
        r, c = run_model(arch, pool, args.pairs, args.warm, args.timed, args.workers,
                         set(args.only) if args.only else None, not args.no_compile)
        rows += r
        checks += c
    print(f"end: {_load()}")
    print(f"\nAugmentation alone, one step = {2 * args.pairs} views 224 -> 128, main process, "
          f"{args.threads} threads")
    for name, sec in aug.items():
        print(f"  {name:40s} {1000 * sec:8.1f} ms/step")
    print(f"\nFull training step, images/s = 2 x pairs/s, {args.pairs} pairs, 128 px, median of "
          f"{args.timed} steps")
    print(f"{'encoder':9s} {'path':52s} {'s/step':>7s} {'img/s':>7s} {'vs official':>11s}")
    base = {}
    for arch, name, med, ips in rows:
        base.setdefault(arch, ips if name.startswith("official") else None)
        ratio = f"{ips / base[arch]:10.2f}x" if base[arch] else "         -"
        print(f"{arch:9s} {name:52s} {med:7.2f} {ips:7.1f} {ratio}")
    print("\nLoss/gradient vs fp32 NCHW eager, same weights, batch and augmentation parameters "
          f"(tolerance |dL|/L, |dg|/|g| in floors: fp32 {TOLERANCE['fp32']}, "
          f"bf16 {TOLERANCE['bf16']})")
    print(f"{'variant':60s} {'loss':>9s} {'ref':>9s} {'|dL|/L':>9s} {'|dg|/|g|':>9s}")
    for name, loss, ref, el, eg, verdict in checks:
        print(f"{name:60s} {loss:9.5f} {ref:9.5f} {el:9.1e} {eg:9.1e} {verdict}")
    return 1 if any(c[-1] == "FAIL" for c in checks) else 0


if __name__ == "__main__":
    raise SystemExit(main())
