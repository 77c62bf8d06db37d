"""Data for contrastive pre-training: pairs of views' sources, batched and sampled as the seeds.

A pair is (view-1 image, its keypoints, view-2 image, its keypoints), before augmentation; the
task augments both views on the device. For SimCLR and PeCLR both views come from the same
image (`positives="same"`); for SiMHand view 2 is the anchor's top-1 mined similar hand
(`positives="mined"`, a Hand100M annotation file with `positive_sample` filled,
specs/pretrain.md §1.6.1). Left hands are mirrored to right hands, as every seed loader does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import lightning as L
import numpy as np
import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset

from handkit.data.formats import detect_format, open_dataset
from handkit.data.formats.hand100m import Hand100MDataset, Hand100MPairDataset
from handkit.data.sampling import BalancedResampler
from handkit.data.schema import Sample, SampleError
from handkit.data.hands import collate_items, mirror_to_right
from handkit.tasks.base import resumable_loader

__all__ = ["DataSource", "PretrainDataConfig", "ViewPairs", "PretrainDataModule"]


@dataclass(frozen=True)
class DataSource:
    """One dataset in the pre-training mix.

    Attributes:
        root: dataset folder, or a Hand100M annotation JSON file.
        format: a `data.formats.list_formats()` name, or "auto" (`data.formats.detect_format`).
        split: the split (FreiHAND "training"; Hand100M: the `{scale}` part of the file name).
    """

    root: str = ""
    format: str = "auto"
    split: str = "training"


@dataclass(frozen=True)
class PretrainDataConfig:
    """Attributes:
        sources: datasets, balanced 50/50 by the sampler as the seeds do (§1.7).
        batch_size: pairs per device per step.
        num_workers: DataLoader worker processes (decode + crop only; augmentation runs in the
            task, batched).
        samples_per_epoch: draws per epoch; 0 = total length of the sources (official).
    """

    sources: tuple[DataSource, ...] = ()
    batch_size: int = 1024
    num_workers: int = 8
    samples_per_epoch: int = 0


def _open(source: DataSource, positives: str) -> Dataset:
    fmt = detect_format(source.root) if source.format == "auto" else source.format
    if fmt == "hand100m":
        dataset = _hand100m_file(Path(source.root))
        return Hand100MPairDataset(dataset) if positives == "mined" else dataset
    if positives == "mined":
        raise ValueError(f"data: {source.root} is {fmt!r}; SiMHand's mined positives need a "
                         "Hand100M annotation file (run `handkit mine`).")
    return open_dataset(fmt, source.root, source.split)


def _hand100m_file(path: Path) -> Hand100MDataset:
    """A Hand100M JSON, or the single annotation file under a Hand100M root."""
    if path.is_dir():
        files = sorted(path.glob("annotations/*/Hand100M_*_v1-1.json"))
        if len(files) != 1:
            raise ValueError(f"data: {path} holds {len(files)} Hand100M annotation files "
                             f"({[f.name for f in files][:4]}); pass the JSON itself.")
        path = files[0]
    return Hand100MDataset(path)


def _view(sample: Sample) -> tuple[torch.Tensor, torch.Tensor]:
    """(3, H, W) uint8 image and (21, 2) float32 keypoints of hand 0, mirrored if left."""
    image, uv = sample.image, sample.keypoints_2d[0]  # Hand100M/FreiHAND crops: one hand each
    if not bool(sample.is_right[0]):
        image, uv, _, _ = mirror_to_right(image, uv)
    return (torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1),
            torch.from_numpy(np.asarray(uv, dtype=np.float32)))


class ViewPairs(Dataset):
    """Item i → dict(image1, keypoints1, image2, keypoints2), or None for a bad sample.

    Args:
        dataset: yields `Sample`s (`positives="same"`) or (anchor, positive) pairs.
    """

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> dict | None:
        try:
            item = self.dataset[i]
        except (SampleError, OSError) as err:
            return {"bad": f"{type(err).__name__}: {err}"}
        first, second = item if isinstance(item, tuple) else (item, item)
        image1, keypoints1 = _view(first)
        image2, keypoints2 = _view(second)
        return {"image1": image1, "keypoints1": keypoints1,
                "image2": image2, "keypoints2": keypoints2}


class PretrainDataModule(L.LightningDataModule):
    """Sources → balanced with-replacement draw → decoded pairs, one loader per rank."""

    def __init__(self, cfg: PretrainDataConfig, positives: Literal["same", "mined"], seed: int):
        super().__init__()
        if not cfg.sources:
            raise ValueError("data.sources: empty; give at least one dataset (--data DIR).")
        for source in cfg.sources:  # fail before the trainer starts, not inside setup()
            if not Path(source.root).exists():
                raise FileNotFoundError(f"data: {source.root} does not exist.")
        self.cfg, self.positives, self.seed = cfg, positives, seed
        self.dataset: ConcatDataset | None = None

    def setup(self, stage: str | None = None) -> None:
        parts = [ViewPairs(_open(s, self.positives)) for s in self.cfg.sources]
        self.dataset = ConcatDataset(parts)

    def train_dataloader(self) -> DataLoader:
        sampler = BalancedResampler(
            [len(d) for d in self.dataset.datasets], self.cfg.samples_per_epoch or None,
            seed=self.seed, rank=self.trainer.global_rank if self.trainer else 0,
            world_size=self.trainer.world_size if self.trainer else 1)
        return resumable_loader(self.dataset, batch_size=self.cfg.batch_size,
                                num_workers=self.cfg.num_workers, collate_fn=collate_items,
                                sampler=sampler, drop_last=True, trainer=self.trainer)
