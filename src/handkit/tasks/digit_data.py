"""Data for DIGIT: InterHand2.6M-layout samples (real or `handkit synth interhand`) as crops.

Each item is `data.digit_crops.digit_crop` of one `Sample` (§3.5-3.8): the GT box, the §3.7
augmentation in training (none in validation), the image, 42 joints, hand_type and the part
labels at half resolution, or ``{"bad": reason}`` when the sample cannot be used (counted by
the task).

**Randomness.** The training order and every item's augmentation seed come from one generator
seeded with the run's seed whose state is in the checkpoint (`state_dict`), so a resumed run
draws the next epoch exactly as the uninterrupted run; workers never use global state.

**Subsets** (``train_subset``, ``val_subset``): the official ``small*`` / ``mini*`` rule,
`data.digit_crops.official_subset`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from handkit.data.digit_crops import (DigitAugmentConfig, DigitAugmentParams, digit_crop,
                                      official_subset, sample_digit_augment)
from handkit.data.formats._base import LOAD_ERRORS
from handkit.data.formats.interhand import InterHand26M
from handkit.data.hands import collate_items
from handkit.tasks.finetune_data import ShuffledDataModule
from handkit.tasks.base import resumable_loader

__all__ = ["DigitDataConfig", "DigitCrops", "DigitDataModule"]

@dataclass(frozen=True)
class DigitDataConfig:
    """Attributes:
        root: the InterHand2.6M-layout folder (`--data`).
        split: training split; val_split: validation split ("" for none).
        train_subset, val_subset: "" or an official subset name (`official_subset`).
        batch_size: training images per device per step (official 32 = ``--iter_batch``).
        val_batch_size: official 16.
        num_workers: DataLoader workers (official 8).
        images_lmdb, masks_lmdb: read images / part masks from DIGIT's LMDB files (as the
            official training; `data.formats.interhand_lmdb`) instead of the folders; "" =
            the files.
        augment: §3.7's ranges.
    """

    root: str = ""
    split: str = "train"
    val_split: str = "val"
    train_subset: str = ""
    val_subset: str = "smallval"
    batch_size: int = 32
    val_batch_size: int = 16
    num_workers: int = 8
    images_lmdb: str = ""
    masks_lmdb: str = ""
    augment: DigitAugmentConfig = field(default_factory=DigitAugmentConfig)


class DigitCrops(Dataset):
    """Item ``i`` (evaluation) or ``(i, seed)`` (training, augmented with that seed) → a dict
    of tensors (`digit_crop`'s fields, image channels first) or ``{"bad": reason}``."""

    def __init__(self, dataset: Dataset, indices: list[int], patch: int,
                 augment: DigitAugmentConfig | None):
        self.dataset, self.indices, self.patch, self.augment = dataset, indices, patch, augment

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        i, seed = key if isinstance(key, tuple) else (key, None)
        params = DigitAugmentParams()
        if self.augment is not None and seed is not None:
            params = sample_digit_augment(np.random.default_rng(seed), self.augment)
        try:
            item = digit_crop(self.dataset[self.indices[i]], params, patch=self.patch)
        except LOAD_ERRORS as err:
            return {"bad": f"{type(err).__name__}: {err}"}
        # np.array(v) copies (contiguous) and keeps 0-d values 0-d (ascontiguousarray would not)
        out = {k: torch.as_tensor(np.array(v)) for k, v in item.items()}
        out["image"] = out["image"].permute(2, 0, 1).contiguous()
        out["index"] = torch.tensor(self.indices[i])
        return out


class _SeededShuffle(Sampler):
    """A permutation and one augmentation seed per item from `generator`, each epoch."""

    def __init__(self, n: int, generator: torch.Generator):
        self.n, self.generator = n, generator

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = torch.randperm(self.n, generator=self.generator).tolist()
        seeds = torch.randint(0, 2**62, (self.n,), generator=self.generator).tolist()
        return iter(list(zip(order, seeds)))


class DigitDataModule(ShuffledDataModule):
    """Training crops (augmented, shuffled resumably by `ShuffledDataModule`'s generator, the
    last incomplete batch dropped when there are several) and validation crops.

    Args:
        cfg: the data config. patch: crop side P (= the model's image size). seed: the run's.
    """

    def __init__(self, cfg: DigitDataConfig, patch: int, seed: int = 1):
        super().__init__(cfg, seed)
        self.patch = patch
        self.train_set: DigitCrops | None = None
        self.val_set: DigitCrops | None = None

    def _crops(self, split: str, subset: str, augment: DigitAugmentConfig | None) -> DigitCrops:
        data = InterHand26M(self.cfg.root, split, images_lmdb=self.cfg.images_lmdb or None,
                            masks_lmdb=self.cfg.masks_lmdb or None)
        return DigitCrops(data, official_subset(len(data), subset), self.patch, augment)

    def setup(self, stage: str | None = None) -> None:
        self.train_set = self._crops(self.cfg.split, self.cfg.train_subset, self.cfg.augment)
        if self.cfg.val_split:
            self.val_set = self._crops(self.cfg.val_split, self.cfg.val_subset, None)

    def _loader(self, data: Dataset, batch: int, sampler: Sampler | None, drop: bool
                ) -> DataLoader:
        return resumable_loader(data, batch_size=batch, num_workers=self.cfg.num_workers,
                                collate_fn=collate_items, sampler=sampler, shuffle=False,
                                drop_last=drop, trainer=self.trainer)

    def train_dataloader(self) -> DataLoader:
        n = len(self.train_set)
        return self._loader(self.train_set, self.cfg.batch_size,
                            _SeededShuffle(n, self.shuffle), drop=n > self.cfg.batch_size)

    def val_dataloader(self) -> DataLoader | list:
        if self.val_set is None:
            return []
        return self._loader(self.val_set, self.cfg.val_batch_size, None, drop=False)
