"""S2HAND's data module: the training split (and a validation split) of `data.s2hand` items,
shuffled resumably. What an item holds and where the detections come from: `data.s2hand`."""

from __future__ import annotations

from torch.utils.data import DataLoader, Dataset

from handkit.data.formats import detect_format, open_dataset
from handkit.data.hands import collate_items
from handkit.data.s2hand import S2HandDataConfig, S2HandItems
from handkit.tasks.base import resumable_loader
from handkit.tasks.finetune_data import ShuffledDataModule

__all__ = ["S2HandDataModule"]


class S2HandDataModule(ShuffledDataModule):
    """The training split (and optionally a validation split), shuffled resumably
    (`tasks.finetune_data.ShuffledDataModule`)."""

    def __init__(self, cfg: S2HandDataConfig, image_size: int, seed: int = 5):
        super().__init__(cfg, seed)
        self.size = image_size
        self.train: Dataset | None = None
        self.val: Dataset | None = None

    def setup(self, stage: str | None = None) -> None:
        fmt = detect_format(self.cfg.root) if self.cfg.format == "auto" else self.cfg.format
        self.train = S2HandItems(open_dataset(fmt, self.cfg.root, self.cfg.split), self.cfg,
                                 self.size)
        if self.cfg.val_split:
            # validation reads its own labels (never a detection file made for the train split)
            val_cfg = S2HandDataConfig(**{**self.cfg.__dict__, "keypoints": "labels"})
            self.val = S2HandItems(open_dataset(fmt, self.cfg.root, self.cfg.val_split),
                                   val_cfg, self.size)

    def _loader(self, data: Dataset, shuffle: bool) -> DataLoader:
        return resumable_loader(data, batch_size=self.cfg.batch_size,
                                num_workers=self.cfg.num_workers, collate_fn=collate_items,
                                shuffle=shuffle, generator=self.shuffle if shuffle else None,
                                drop_last=shuffle and len(data) > self.cfg.batch_size)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train, True)

    def val_dataloader(self) -> DataLoader | list:
        return self._loader(self.val, False) if self.val is not None else []
