"""DIGIT training (`handkit train digit`, specs/digit.md §5): wiring only.

Per batch: `losses.digit.encode_25d` turns the crops' joints into 2.5D targets, the model's
own `DigitModel.loss` computes the five weighted terms. Validation logs the same terms and a
batch MPJPE (mm; each hand lifted with its GT root depth and root-aligned, mean over the valid
non-root joints; the official per-joint aggregation is the evaluation's).

**Official recipe** (``configs/digit/official.yaml``): Adam lr 1e-4 on all parameters, no weight
decay, MultiStepLR milestones [40] γ 0.1 per epoch, 50 epochs, 32 images per step with 2-step
accumulation (64 effective), 16-bit mixed precision on GPUs, seed 1, validation every 2 epochs
on ``smallval``; HRNet-W32 from the ImageNet file named by ``init``. Differences, chosen: the
checkpoints are handkit's (``last.ckpt`` and the newest epoch), not one per validation with
``mpjpe_all`` monitored; without ``init`` the backbone starts from the pose HRNet's own
initialisation instead of raising.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from handkit.eval.interhand import batch_mpjpe
from handkit.losses.digit import LOSS_WEIGHTS, encode_25d, lift_42
from handkit.models.digit import DigitModel
from handkit.models.registry import ModelConfig, build_model
from handkit.tasks.base import TaskBase
from handkit.tasks.digit_data import DigitDataConfig, DigitDataModule
from handkit.tasks.registry import register_task
from handkit.tasks.runner import TrainerConfig, train

__all__ = ["DigitLossConfig", "DigitOptimConfig", "DigitConfig", "DigitTask", "train_digit"]


@dataclass(frozen=True)
class DigitLossConfig:
    """Term weights (official: `losses.digit.LOSS_WEIGHTS`) and the depth ranges (meters)."""

    joint: float = LOSS_WEIGHTS["joint"]
    rel_root_depth: float = LOSS_WEIGHTS["rel_root_depth"]
    hand_type: float = LOSS_WEIGHTS["hand_type"]
    segm: float = LOSS_WEIGHTS["segm"]
    bone: float = LOSS_WEIGHTS["bone"]
    depth_range: float = 0.4  # bbox_3d_size = bbox_3d_size_root = 400 mm


@dataclass(frozen=True)
class DigitOptimConfig:
    """Adam, then MultiStepLR stepped per epoch."""

    lr: float = 1e-4
    weight_decay: float = 0.0
    milestones: tuple[int, ...] = (40,)
    gamma: float = 0.1


def _digit_model() -> ModelConfig:
    return ModelConfig("digit", "hrnet_w32", 256, {"size": "official"})


def _digit_trainer() -> TrainerConfig:
    return TrainerConfig(max_epochs=50, precision="16-mixed", accumulate_grad_batches=2,
                         check_val_every_n_epoch=2)


@dataclass(frozen=True)
class DigitConfig:
    """A DIGIT experiment (defaults = the official recipe; packaged YAML in
    handkit/configs/digit/). `init`: ImageNet HRNet-W32 weights file (``hrnet_w32-36af842e.pth``
    or timm's), or None."""

    model: ModelConfig = field(default_factory=_digit_model)
    init: str | None = None
    seed: int = 1
    threads: int = 0
    loss: DigitLossConfig = field(default_factory=DigitLossConfig)
    optim: DigitOptimConfig = field(default_factory=DigitOptimConfig)
    data: DigitDataConfig = field(default_factory=DigitDataConfig)
    trainer: TrainerConfig = field(default_factory=_digit_trainer)


class DigitTask(TaskBase):
    """DIGIT's training and validation steps (no maths here: `losses.digit`, `DigitModel`)."""

    def __init__(self, net: DigitModel, cfg: DigitConfig):
        if cfg.model.name != "digit":
            raise ValueError(f"model.name: the digit task trains 'digit', got {cfg.model.name!r}.")
        super().__init__(cfg, "digit")
        self.net = net

    def _weights(self) -> dict[str, float]:
        w = dataclasses.asdict(self.cfg.loss)
        return {k: w[k] for k in LOSS_WEIGHTS}

    def _targets(self, batch: dict):
        size = self.cfg.model.image_size
        return encode_25d(batch["uv"], batch["z"], batch["valid"], batch["interacting"],
                          patch_size=size, hm_size=size // self.net.stride,
                          depth_range=self.cfg.loss.depth_range, depth_bins=self.net.depth_bins,
                          root_depth_range=self.cfg.loss.depth_range)

    def losses(self, batch: dict) -> dict[str, Tensor]:
        """The weighted loss and its five raw terms on one batch of crops."""
        return self.net.loss(batch["image"], target=self._targets(batch),
                             hand_type=batch["hand_type"],
                             hand_type_valid=batch["hand_type_valid"], segm=batch["segm"],
                             segm_valid=batch["segm_valid"], weights=self._weights())

    def validation_metrics(self, batch: dict) -> dict[str, Tensor]:
        terms = self.losses(batch)
        out = self.net(batch["image"])
        target = self._targets(batch)
        K_patch = batch["T"].to(batch["K"].dtype) @ batch["K"]
        lift = {"px_per_hm": self.net.stride, "depth_range": self.cfg.loss.depth_range,
                "depth_bins": self.net.depth_bins}
        pred, gt = (lift_42(j.to(K_patch.dtype), K_patch, batch["abs_depth"].to(K_patch.dtype),
                            **lift) for j in (out.joints, target.joints))
        return {**terms, "mpjpe_mm": batch_mpjpe(pred, gt, target.joint_valid)}

    def configure_optimizers(self):
        oc = self.cfg.optim
        optimizer = torch.optim.Adam(self.net.parameters(), lr=oc.lr, weight_decay=oc.weight_decay)
        schedule = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(oc.milestones),
                                                        gamma=oc.gamma)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule,
                                                         "interval": "epoch"}}


def build_digit_task(cfg: DigitConfig) -> DigitTask:
    """Model (random, or its backbone from the ImageNet file `cfg.init`) + task."""
    net = build_model(cfg.model)
    if cfg.init:
        report = net.load_backbone(cfg.init)
        print(f"digit: backbone initialised from {cfg.init} ({report.loaded} tensors)")
    return DigitTask(net, cfg)


def train_digit(cfg: DigitConfig, out_dir: str | Path, *, resume: bool = False,
                callbacks: list | None = None) -> Path:
    """Run a DIGIT experiment; returns `out_dir/checkpoints/last.ckpt` (resumable)."""
    return train(cfg, lambda c: (build_digit_task(c), DigitDataModule(c.data, c.model.image_size,
                                                                       c.seed)),
                 out_dir, resume=resume, callbacks=callbacks).last_checkpoint


register_task("digit", config=DigitConfig, run=train_digit,
              help="DIGIT: two interacting hands with part segmentation (InterHand2.6M layout)")
