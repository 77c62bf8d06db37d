"""Training handkit's hand finder (`handkit train detector`; `models.hand_detector`).

Whole images (any `data.formats` layout with 2D keypoints; by default the synthetic
multi-hand world, `handkit synth multihand`, or single-hand sets composed into multi-hand
images, `data.compose`) become `data.smhr_inputs.SMHRItems` at stride 8 with the box-centre
rule, so the detector shares SMHR's data path, targets and resumable sampling. Adam with
handkit's warm-up + cosine schedule. No maths here: the terms are `HandDetector.loss`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from handkit.models.hand_detector import DETECTOR_WEIGHTS, HandDetector
from handkit.models.registry import ModelConfig, build_model
from handkit.tasks.base import TaskBase
from handkit.tasks.registry import register_task
from handkit.tasks.runner import TrainerConfig, train
from handkit.tasks.smhr_data import SMHRDataConfig, SMHRDataModule

__all__ = ["DetectorLossConfig", "DetectorOptimConfig", "DetectorConfig", "DetectorTask", "train_detector"]


@dataclass(frozen=True)
class DetectorLossConfig:
    """Term weights (`models.hand_detector.DETECTOR_WEIGHTS`: CenterNet's)."""

    center: float = DETECTOR_WEIGHTS["center"]
    size: float = DETECTOR_WEIGHTS["size"]
    offset: float = DETECTOR_WEIGHTS["offset"]
    side: float = DETECTOR_WEIGHTS["side"]


@dataclass(frozen=True)
class DetectorOptimConfig:
    """Adam with handkit's linear warm-up over `warmup_steps`, then cosine to 0."""

    lr: float = 1e-3
    warmup_steps: int = 50


def _detector_model() -> ModelConfig:
    return ModelConfig("hand_detector", "resnet18", 256, {"max_hands": 4})


def _detector_data() -> SMHRDataConfig:
    return SMHRDataConfig(format="multihand", split="all", input="whole", center="box")


@dataclass(frozen=True)
class DetectorConfig:
    """A detector training run (packaged YAML: handkit/configs/detector/)."""

    model: ModelConfig = field(default_factory=_detector_model)
    seed: int = 0
    threads: int = 0
    optim: DetectorOptimConfig = field(default_factory=DetectorOptimConfig)
    loss: DetectorLossConfig = field(default_factory=DetectorLossConfig)
    data: SMHRDataConfig = field(default_factory=_detector_data)
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=20))


class DetectorTask(TaskBase):
    """Trains a `HandDetector` on batches of `SMHRItems` (stride 8, box centres)."""

    def __init__(self, net: HandDetector, cfg: DetectorConfig):
        super().__init__(cfg, "detector")
        self.net = net

    def losses(self, batch: dict) -> dict[str, Tensor]:
        return self.net.loss(self.net.preprocess(batch["image"]), hm=batch["hm"],
                             ind=batch["ind"], slot=batch["slot"], uv=batch["uv"],
                             valid=batch["valid"], is_right=batch["is_right"],
                             weights=dataclasses.asdict(self.cfg.loss))

    def validation_metrics(self, batch: dict) -> dict[str, Tensor]:
        return {"loss": self.losses(batch)["loss"]}

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(self.net.parameters(), lr=self.cfg.optim.lr)
        return self.warmup_cosine(optimizer, self.cfg.optim.warmup_steps)


def train_detector(cfg: DetectorConfig, out_dir: str | Path, *, resume: bool = False,
                   callbacks: list | None = None) -> Path:
    """Train the hand detector; returns `out_dir/checkpoints/last.ckpt` (resumable)."""
    if cfg.model.name != "hand_detector":
        raise ValueError(f"model.name: the detector task trains 'hand_detector', got "
                         f"{cfg.model.name!r}.")
    if cfg.data.center != "box":
        raise ValueError(f"data.center: the detector's boxes are centred on the keypoint box "
                         f"('box'), got {cfg.data.center!r}.")

    def build(c: DetectorConfig) -> tuple[DetectorTask, SMHRDataModule]:
        net = build_model(c.model)
        return DetectorTask(net, c), SMHRDataModule(c.data, image_size=c.model.image_size,
                                                    max_objs=net.max_hands, seed=c.seed,
                                                    stride=net.stride)

    return train(cfg, build, out_dir, resume=resume, callbacks=callbacks).last_checkpoint


register_task("detector", config=DetectorConfig, run=train_detector,
              help="handkit's hand finder: every hand's box, score and side in a whole image")
