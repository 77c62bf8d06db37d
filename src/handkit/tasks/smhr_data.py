"""Data for SMHR training: a dataset (optionally composed into multi-hand images) as SMHR inputs.

Wires `data.formats` (any layout; FreiHAND, HO3D, the synthetic ``multihand`` world, ...),
`data.compose.ComposedMultiHand` (``compose: true``, SMHR's artificial images, redrawn every
epoch) and `data.smhr_inputs.SMHRItems` (crop or whole image, targets), drawn by
`data.sampling.EpochShuffle` so every per-item draw is a function of (seed, epoch, index) and a
resumed run sees what the uninterrupted one saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import lightning as L
from torch.utils.data import DataLoader

from handkit.data.compose import ComposedMultiHand
from handkit.data.formats import detect_format, open_dataset
from handkit.data.hands import collate_items
from handkit.data.sampling import EpochShuffle
from handkit.data.smhr_inputs import SMHRItems
from handkit.tasks.base import resumable_loader

__all__ = ["SMHRDataConfig", "SMHRDataModule"]


@dataclass(frozen=True)
class SMHRDataConfig:
    """Attributes:
        root: dataset folder (`--data`). format: a format name or "auto". split: its split
            (FreiHAND "training", the synthetic multihand "all").
        input: "crop" (single-hand, one hand per crop) or "whole" (multi-hand images).
        center: "box" (SMHR single-hand) or "mean" (``--avg_center``, multi-hand).
        compose: paste single-hand samples into multi-hand images (SMHR's artificial task).
        compose_max_hands, compose_max_overlap, compose_flip_prob: `ComposedMultiHand`'s
            ``max_hands`` (5), ``max_overlap``, ``flip_prob`` (0.5 with handedness).
        length: items per epoch (0: the dataset's length).
        zoom: magnification range of whole training images (`SMHRItems`; (1, 1) none,
            SMHR's; the hand detector's config sets one).
        min_valid: valid joints a hand needs.
        augment: SMHR's training jitter and colour noise.
        batch_size: per device (SMHR's default 32; its scripts use 4).
        num_workers: DataLoader workers.
        val_root, val_split: an optional validation set, prepared as the training set (the
            same composition, if any) without augmentation and drawn once (epoch 0), so every
            validation sees the same images. val_length: its items (0: its length).
    """

    root: str = ""
    format: str = "auto"
    split: str = "training"
    input: Literal["crop", "whole"] = "whole"
    center: Literal["box", "mean"] = "mean"
    compose: bool = False
    compose_max_hands: int = 5
    compose_max_overlap: float = 0.0
    compose_flip_prob: float = 0.5
    length: int = 0
    zoom: tuple[float, float] = (1.0, 1.0)
    min_valid: int = 10
    augment: bool = True
    batch_size: int = 32
    num_workers: int = 4
    val_root: str = ""
    val_split: str = "training"
    val_length: int = 0


class SMHRDataModule(L.LightningDataModule):
    """The training set as SMHR items (module doc).

    Args:
        cfg: the data config. image_size: the network input side. max_objs: target slots
            (the model's ``max_hands``). seed: of every draw. stride: of the heat-maps (SMHR 4;
            the hand detector 8).
    """

    def __init__(self, cfg: SMHRDataConfig, *, image_size: int, max_objs: int, seed: int = 5,
                 stride: int = 4):
        super().__init__()
        if not cfg.root:
            raise ValueError("data.root: empty; give the dataset folder (--data DIR).")
        self.cfg, self.image_size, self.max_objs, self.seed = cfg, image_size, max_objs, seed
        self.stride = stride
        self.items: SMHRItems | None = None
        self.val_items: SMHRItems | None = None

    def _items(self, root: str, split: str, length: int, augment: bool) -> SMHRItems:
        c = self.cfg
        fmt = detect_format(root) if c.format == "auto" else c.format
        source = open_dataset(fmt, root, split)
        if c.compose:
            source = ComposedMultiHand(source, size=self.image_size, max_hands=c.compose_max_hands,
                                       length=length or None, seed=self.seed,
                                       flip_prob=c.compose_flip_prob,
                                       max_overlap=c.compose_max_overlap, min_valid=c.min_valid)
        return SMHRItems(source, size=self.image_size, max_objs=self.max_objs, mode=c.input,
                         center=c.center, augment=augment, seed=self.seed,
                         min_valid=c.min_valid, stride=self.stride, zoom=c.zoom)

    def setup(self, stage: str | None = None) -> None:
        c = self.cfg
        self.items = self._items(c.root, c.split, c.length, c.augment)
        if c.val_root:
            self.val_items = self._items(c.val_root, c.val_split, c.val_length, False)

    def train_dataloader(self) -> DataLoader:
        assert self.items is not None, "setup() first"
        rank, world = 0, 1
        if self.trainer is not None:
            rank, world = self.trainer.global_rank, self.trainer.world_size
        sampler = EpochShuffle(len(self.items), seed=self.seed, rank=rank, world_size=world)
        return resumable_loader(self.items, batch_size=self.cfg.batch_size,
                                num_workers=self.cfg.num_workers, collate_fn=collate_items,
                                sampler=sampler, drop_last=len(sampler) > self.cfg.batch_size,
                                trainer=self.trainer)

    def val_dataloader(self) -> DataLoader | list:
        if self.val_items is None:
            return []  # no validation set configured
        # integer keys: epoch 0, the same images at every validation
        return DataLoader(self.val_items, batch_size=self.cfg.batch_size, shuffle=False,
                          num_workers=self.cfg.num_workers, collate_fn=collate_items)
