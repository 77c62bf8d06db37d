"""Images/s through load + decode + augment to a training batch (128x128, batch 128).

Compares, on the same machine in the same run:
  (a) handkit: workers only read + decode (simplejpeg) and stack uint8 tensors; the batched
      augmenter (`handkit.data.augment`) then runs once per batch, either in the main process
      (the GPU layout: augment on the device) or inside the workers (a batch-level dataset).
      A third variant samples the batch's parameters once and applies them image by image with
      OpenCV (`handkit.data.augment_cv2`, one warpAffine per image straight to 128x128).
  (b) seed-style: per-image OpenCV ops in DataLoader workers (`cv2.imread`, BGR->RGB, the
      per-sample reference augmenter, ToTensor + Normalize), default collate.
Both use the README recipe flags (colour jitter, random crop, rotate, crop, resize) and end with
an ImageNet-normalised float32 (B, 3, 128, 128) batch.

The fixture (~512 JPEG crops of 224x224 with a drawn hand-like skeleton and its 21 keypoints)
is written to a temporary directory by this script.

    flock /tmp/handkit-bench.lock .venv/bin/python benchmarks/data_pipeline.py
    .venv/bin/python benchmarks/data_pipeline.py --images 64 --batches 2   # a quick try
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import simplejpeg
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from handkit.data.augment import AugmentConfig, augment, sample_augment
from handkit.data.augment_cv2 import apply_augment_cv2
from handkit.data.augment_reference import apply_reference, sample_reference

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
CFG = AugmentConfig()  # README recipe: colour jitter, random crop, rotate, crop, resize


def write_fixture(root: Path, n: int, size: int = 224, seed: int = 0) -> None:
    """n JPEG crops with a random background, a skeleton drawn through 21 keypoints, labels."""
    rng = np.random.default_rng(seed)
    parents = [-1, 0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11, 0, 13, 14, 15, 0, 17, 18, 19]
    labels = {}
    for i in range(n):
        img = cv2.resize(rng.integers(0, 256, (7, 7, 3), dtype=np.uint8), (size, size),
                         interpolation=cv2.INTER_CUBIC)
        kp = size / 2 + rng.uniform(-0.25, 0.25, (21, 2)) * size
        for j, pa in enumerate(parents):
            if pa >= 0:
                cv2.line(img, tuple(int(v) for v in kp[pa]), tuple(int(v) for v in kp[j]),
                         (230, 190, 160), 4)
        name = f"{i:05d}.jpg"
        cv2.imwrite(str(root / name), img, [cv2.IMWRITE_JPEG_QUALITY, 90])
        labels[name] = kp.tolist()
    (root / "keypoints.json").write_text(json.dumps(labels))


class _Files:
    def __init__(self, root: Path):
        self.root = root
        self.labels = json.loads((root / "keypoints.json").read_text())
        self.names = sorted(self.labels)

    def __len__(self) -> int:
        return len(self.names)


class SeedStyleDataset(_Files, Dataset):
    """(b) per-sample: cv2.imread, BGR->RGB, per-image OpenCV augmenter, ToTensor, Normalize."""

    def __getitem__(self, i: int):
        name = self.names[i]
        img = cv2.cvtColor(cv2.imread(str(self.root / name)), cv2.COLOR_BGR2RGB)
        kp = np.asarray(self.labels[name], dtype=np.float64)
        rng = random.Random(i * 7919 + int(time.perf_counter_ns() % 1000))
        out, kp_out, _, _ = apply_reference(img, kp, sample_reference(CFG, rng, img.shape[:2]), CFG)
        x = torch.from_numpy(out).permute(2, 0, 1).float().div_(255)
        x = (x - MEAN[0]) / STD[0]
        return x, torch.from_numpy(kp_out).float()


class DecodeDataset(_Files, Dataset):
    """(a) per-sample part of handkit's pipeline: read + decode to a uint8 CHW tensor."""

    def __getitem__(self, i: int):
        name = self.names[i]
        rgb = simplejpeg.decode_jpeg((self.root / name).read_bytes(), colorspace="RGB")
        return (torch.from_numpy(rgb).permute(2, 0, 1),
                torch.tensor(self.labels[name], dtype=torch.float32))


def batched_augment(images: torch.Tensor, kp: torch.Tensor, g: torch.Generator,
                    cfg: AugmentConfig = CFG, compiled: bool = False):
    out, kp_out, _ = augment(images, kp, cfg, g, normalize=IMAGENET, compiled=compiled)
    return out, kp_out


class BatchAugmentDataset(DecodeDataset):
    """(a, in workers) one item = one whole batch: decode B images, then one batched augment."""

    def __init__(self, root: Path, cfg: AugmentConfig = CFG, compiled: bool = False):
        super().__init__(root)
        self.cfg, self.compiled = cfg, compiled

    def __getitem__(self, idx: list[int]):
        items = [DecodeDataset.__getitem__(self, i) for i in idx]
        images = torch.stack([a for a, _ in items])
        kp = torch.stack([b for _, b in items])
        return batched_augment(images, kp, torch.Generator().manual_seed(idx[0]), self.cfg,
                               self.compiled)


class BatchCv2Dataset(DecodeDataset):
    """(a, OpenCV backend) one item = one batch: decode, sample once, apply per image with cv2."""

    def __getitem__(self, idx: list[int]):
        rgb = [simplejpeg.decode_jpeg((self.root / self.names[i]).read_bytes(), colorspace="RGB")
               for i in idx]
        kp = torch.tensor([self.labels[self.names[i]] for i in idx], dtype=torch.float32)
        params = sample_augment(kp, rgb[0].shape[:2], CFG, torch.Generator().manual_seed(idx[0]))
        return apply_augment_cv2(rgb, kp, params, normalize=IMAGENET)


class _BatchIndices(Sampler):
    def __init__(self, n: int, batch: int, batches: int, seed: int = 0):
        self.n, self.batch, self.batches, self.seed = n, batch, batches, seed

    def __iter__(self):
        rng = np.random.default_rng(self.seed)
        for _ in range(self.batches):
            yield rng.integers(0, self.n, self.batch).tolist()

    def __len__(self) -> int:
        return self.batches


def _init_worker(_: int) -> None:
    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def _time(loader_iter, batches: int, warm: int, post=None) -> float:
    it = iter(loader_iter)
    for _ in range(warm):                  # warm-up: worker start, first batch of each worker
        first = next(it)
        if post is not None:
            post(*first)
    t0 = time.perf_counter()
    count = 0
    for batch in it:
        if post is not None:
            batch = post(*batch)
        count += batch[0].shape[0]
    return count / (time.perf_counter() - t0)


def run(root: Path, batch: int, batches: int, workers: int,
        compiled: bool) -> dict[str, float]:
    common = dict(num_workers=workers, worker_init_fn=_init_worker if workers else None,
                  persistent_workers=False)
    n = len(_Files(root))
    warm = max(workers, 1)
    total = batches + warm
    results = {}
    seed_loader = DataLoader(SeedStyleDataset(root),
                             batch_sampler=_BatchIndices(n, batch, total), **common)
    results["seed-style (per-image OpenCV in workers)"] = _time(seed_loader, batches, warm)
    g = torch.Generator().manual_seed(0)
    dec_loader = DataLoader(DecodeDataset(root), batch_sampler=_BatchIndices(n, batch, total),
                            **common)
    results["handkit (decode in workers, batched augment in main)"] = _time(
        dec_loader, batches, warm, post=lambda x, k: batched_augment(x, k, g))
    batch_loader = DataLoader(BatchAugmentDataset(root), batch_size=None,
                              sampler=_BatchIndices(n, batch, total), **common)
    results["handkit (decode + batched augment in workers)"] = _time(batch_loader, batches, warm)
    no_aa = dataclasses.replace(CFG, antialias=False)
    batch_loader = DataLoader(BatchAugmentDataset(root, no_aa), batch_size=None,
                              sampler=_BatchIndices(n, batch, total), **common)
    results["handkit (as above, antialias off: plain bilinear)"] = _time(batch_loader, batches,
                                                                         warm)
    batch_loader = DataLoader(BatchCv2Dataset(root), batch_size=None,
                              sampler=_BatchIndices(n, batch, total), **common)
    results["handkit (decode + batch params + OpenCV apply in workers)"] = _time(
        batch_loader, batches, warm)
    if compiled:
        batch_loader = DataLoader(BatchAugmentDataset(root, CFG, compiled=True), batch_size=None,
                                  sampler=_BatchIndices(n, batch, total), **common)
        results["handkit (in workers, torch.compile colour stage)"] = _time(batch_loader,
                                                                           batches, warm)
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=512, help="JPEG fixture size")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--batches", type=int, default=8, help="timed batches per pipeline")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2, help="torch threads of the main process")
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile row")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="handkit-bench-") as tmp:
        root = Path(tmp)
        write_fixture(root, args.images)
        res = run(root, args.batch, args.batches, args.workers, not args.no_compile)
    base = res["seed-style (per-image OpenCV in workers)"]
    print(f"\nload+decode+augment to a (B, 3, 128, 128) batch; B={args.batch}, "
          f"{args.batches} timed batches, {args.workers} workers, {args.threads} main threads, "
          f"{args.images} JPEGs 224x224")
    print(f"{'pipeline':58s} {'images/s':>10s} {'vs seed':>8s}")
    for name, ips in res.items():
        print(f"{name:58s} {ips:10.1f} {ips / base:7.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
