"""Data for supervised fine-tuning: labelled hands, pre-cropped and mirrored to right hands.

A worker reads a `Sample` (any `data.formats` layout with 3D labels: FreiHAND, DexYCB,
AssemblyHands, ...), picks its first hand with at least `min_valid` valid joints (SiMHand's
minimal-hand loaders skip hands with fewer than 10), mirrors a left hand into a right one
(image u → W − u, 3D x → −x, `geometry.camera.flip_K`; every seed does this), and cuts a square
pre-crop of side `precrop_margin` × the keypoint box (`data.crop`, K' = T K) so every item has
one size. The task then augments the whole batch on the device (rotation and the random crop
around the keypoints of `data.augment`, K'' = T' K').

**Label fraction** (chosen; the official ``subset_ratio`` of minimal-hand keeps the *first*
fraction of the sorted indices, which on FreiHAND selects colour versions rather than hands):
``subset="random"`` keeps a seeded random subset of round(fraction · N) samples (the same for
a given seed on every machine); ``subset="first"`` is the official rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from handkit.data.crop import box_crop_matrix, keypoint_box, warp_crop
from handkit.data.formats import detect_format, open_dataset
from handkit.data.formats._base import LOAD_ERRORS
from handkit.data.hands import collate_items, prepare_hand
from handkit.data.schema import SampleError
from handkit.geometry.camera import apply_affine_2d
from handkit.utils.check import check_choice
from handkit.tasks.base import resumable_loader

__all__ = ["FinetuneDataConfig", "HandCrops", "ShuffledDataModule", "FinetuneDataModule",
           "label_subset"]

_SUBSETS = ("random", "first")


@dataclass(frozen=True)
class FinetuneDataConfig:
    """Attributes:
        root: dataset folder (`--data`).
        format: a `data.formats.list_formats()` name or "auto" (`data.formats.detect_format`).
        split: the format's training split ("train" works for FreiHAND, DexYCB, AssemblyHands).
        label_fraction: fraction of the labelled training samples to use, in (0, 1].
        subset: "random" (seeded) or "first" (official minimal-hand `subset_ratio`).
        subset_seed: seed of the random subset.
        min_valid: a hand needs this many valid joints (SiMHand's loaders: 10).
        precrop_size: side of the pre-crop in pixels (the augmenter crops from it).
        precrop_fill: the keypoint box spans this fraction of the pre-crop (0.45: room for the
            augmenter's rotation and crop margins up to 1.5).
        batch_size: samples per device per step.
        num_workers: DataLoader worker processes.
    """

    root: str = ""
    format: str = "auto"
    split: str = "train"
    label_fraction: float = 1.0
    subset: Literal["random", "first"] = "random"
    subset_seed: int = 5
    min_valid: int = 10
    precrop_size: int = 256
    precrop_fill: float = 0.45
    batch_size: int = 64
    num_workers: int = 4


def label_subset(n: int, fraction: float, *, mode: str = "random", seed: int = 5) -> np.ndarray:
    """Sorted indices of the kept samples: round(fraction · n) of them, at least 1.

    Args:
        n: dataset length.
        fraction: in (0, 1].
        mode: "random" (a seeded permutation's first part) or "first" (indices 0..k-1).
        seed: seed of the permutation.
    """
    check_choice(mode, _SUBSETS, name="subset")
    if not 0 < fraction <= 1:
        raise ValueError(f"label_fraction: must be in (0, 1], got {fraction}.")
    k = max(1, int(round(fraction * n))) if n else 0
    if mode == "first":
        return np.arange(k)
    return np.sort(np.random.default_rng(seed).permutation(n)[:k])


class HandCrops(Dataset):
    """Item i → dict(image (3, S, S) uint8, uv (21, 2), xyz (21, 3), K (3, 3), valid (21,)),
    or {"bad": reason} for a sample that fails to load or has no usable 3D hand."""

    def __init__(self, dataset: Dataset, cfg: FinetuneDataConfig):
        self.dataset, self.cfg = dataset, cfg

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> dict:
        try:
            sample = self.dataset[i]
            hand = prepare_hand(sample, min_valid=self.cfg.min_valid)
            if hand["xyz"] is None or hand["K"] is None:
                raise SampleError(f"{sample.sample_id}: no 3D keypoints or K (fine-tuning needs "
                                  "both).")
            size = self.cfg.precrop_size
            T = box_crop_matrix(keypoint_box(hand["uv"], hand["valid"]), size,
                                self.cfg.precrop_fill)
        except LOAD_ERRORS as err:
            return {"bad": f"{type(err).__name__}: {err}"}
        crop = warp_crop(hand["image"], T, size)
        uv = apply_affine_2d(hand["uv"], T)
        return {"image": torch.from_numpy(crop).permute(2, 0, 1).contiguous(),
                "uv": torch.from_numpy(uv).float(),
                "xyz": torch.from_numpy(hand["xyz"]).float(),
                "K": torch.from_numpy(T @ hand["K"]).float(),
                "valid": torch.from_numpy(hand["valid"])}


class ShuffledDataModule(L.LightningDataModule):
    """A data module whose training shuffle draws from one generator seeded with `seed` and
    kept in the checkpoint (`state_dict`): a resumed run shuffles its next epoch as the
    uninterrupted run would, instead of repeating the first epoch's order.

    Args:
        cfg: the data config; its ``root`` must be set.
        seed: the shuffle's seed.
    """

    def __init__(self, cfg, seed: int = 5):
        super().__init__()
        if not cfg.root:
            raise ValueError("data.root: empty; give the dataset folder (--data DIR).")
        self.cfg, self.seed = cfg, seed
        self.shuffle = torch.Generator().manual_seed(seed)

    def state_dict(self) -> dict:
        return {"shuffle": self.shuffle.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.shuffle.set_state(state["shuffle"])


class FinetuneDataModule(ShuffledDataModule):
    """The training split (label-fraction subset) as pre-cropped right hands, shuffled
    (resumably, `ShuffledDataModule`)."""

    def __init__(self, cfg: FinetuneDataConfig, seed: int = 5):
        super().__init__(cfg, seed)
        self.dataset: Dataset | None = None

    def setup(self, stage: str | None = None) -> None:
        fmt = detect_format(self.cfg.root) if self.cfg.format == "auto" else self.cfg.format
        full = open_dataset(fmt, self.cfg.root, self.cfg.split)
        keep = label_subset(len(full), self.cfg.label_fraction, mode=self.cfg.subset,
                            seed=self.cfg.subset_seed)
        self.dataset = HandCrops(Subset(full, keep.tolist()), self.cfg)

    def train_dataloader(self) -> DataLoader:
        return resumable_loader(self.dataset, batch_size=self.cfg.batch_size,
                                num_workers=self.cfg.num_workers, collate_fn=collate_items,
                                shuffle=True, generator=self.shuffle,
                                drop_last=len(self.dataset) > self.cfg.batch_size)
