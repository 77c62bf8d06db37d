"""Supervised fine-tuning of a registered crop model (RN_25D_wMLPref, minimal-hand's DetNet).

The task wires parts and does no maths (style rule R9): the batched augmenter (`data.augment`:
rotation about the keypoints, random crop around them, colour), a model from the registry
(`models.registry.build_model`), and the model's own training loss (`PoseNet.loss`; the terms and
their weights are documented in `models.posenet`).

Geometry of an augmented crop: the augmenter's matrix T maps pre-crop pixels to crop pixels,
so the crop's intrinsics are K' = T K and the 3D labels stay as they are; the in-plane angle is
passed to the loss for models whose targets live in the crop's axes (DetNet).

**Optimiser** (unreleased for both, chosen): Adam, lr 1e-4 (rn25d) / 1e-3 (detnet configs),
cosine decay over the run, no weight decay.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from handkit.data.augment import AugmentConfig, augment
from handkit.models.posenet import PoseNet
from handkit.models.registry import ModelConfig, build_model
from handkit.tasks.base import TaskBase
from handkit.tasks.finetune_data import FinetuneDataConfig, FinetuneDataModule
from handkit.tasks.registry import register_task
from handkit.tasks.runner import TrainerConfig, train

__all__ = ["FinetuneLossConfig", "FinetuneOptimConfig", "FinetuneConfig", "FinetuneTask",
           "build_finetune_task", "finetune"]


@dataclass(frozen=True)
class FinetuneLossConfig:
    """Attributes:
        uv, z, xyz: rn25d term weights (2D px, z_rel in bone lengths, 3D in bone lengths).
        hm, dm, lm: detnet term weights (official 100, 1, 1).
    """

    uv: float = 1.0
    z: float = 1.0
    xyz: float = 1.0
    hm: float = 100.0
    dm: float = 1.0
    lm: float = 1.0


@dataclass(frozen=True)
class FinetuneOptimConfig:
    """Attributes:
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        warmup_steps: linear warm-up steps before the cosine decay.
        head_lr_mult: learning-rate factor of everything after the encoder (rn25d's fc and
            root MLP, detnet's deconvs and heads). rn25d's fc regresses pixels, and Adam's step
            is ~lr per weight whatever the target's scale, so from scratch a larger head lr
            reaches the pixel range sooner. 1 = one lr for all.
    """

    lr: float = 1e-4
    weight_decay: float = 0.0
    warmup_steps: int = 0
    head_lr_mult: float = 1.0


def _finetune_augment() -> AugmentConfig:
    return AugmentConfig(output_size=None, color_jitter=False)  # size: model.image_size


@dataclass(frozen=True)
class FinetuneConfig:
    """A whole fine-tuning experiment; the packaged YAML files (handkit/configs/finetune/)
    override these defaults.

    The augmented crop is the model's input, so its size is derived (`model_augment`), not a
    second setting: `augment.output_size` must stay unset. `threads` sets
    `torch.set_num_threads` for the run (0: torch's default); on a shared CPU, 1 thread per
    process is often several times faster than oversubscribed cores.
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    init: str | None = None
    seed: int = 5
    threads: int = 0
    loss: FinetuneLossConfig = field(default_factory=FinetuneLossConfig)
    optim: FinetuneOptimConfig = field(default_factory=FinetuneOptimConfig)
    augment: AugmentConfig = field(default_factory=_finetune_augment)
    data: FinetuneDataConfig = field(default_factory=FinetuneDataConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)

    def __post_init__(self) -> None:
        if self.augment.output_size is not None:
            raise ValueError(f"augment.output_size: {self.augment.output_size} given, but "
                             "fine-tuning crops to the model's input size; remove it and set "
                             "model.image_size.")

    @property
    def model_augment(self) -> AugmentConfig:
        """`augment` with output size (model.image_size, model.image_size)."""
        size = self.model.image_size
        return dataclasses.replace(self.augment, output_size=(size, size))


class FinetuneTask(TaskBase):
    """Supervised fine-tuning of a `PoseNet`.

    Args:
        net: the model (its `normalize`, `cfg.name` say how to feed and supervise it).
        cfg: the experiment config (stored as plain data in checkpoints).
    """

    def __init__(self, net: PoseNet, cfg: FinetuneConfig):
        super().__init__(cfg, "finetune")
        self.net, self.augment_config = net, cfg.model_augment

    def losses(self, images: Tensor, uv: Tensor, xyz: Tensor, K: Tensor, valid: Tensor,
               angle_deg: Tensor) -> dict[str, Tensor]:
        """The model's loss terms on one augmented batch (arguments: `PoseNet.loss`), weighted
        by ``cfg.loss``."""
        return self.net.loss(images, uv=uv, xyz=xyz, K=K, valid=valid, angle_deg=angle_deg,
                             weights=dataclasses.asdict(self.cfg.loss))

    def training_step(self, batch: dict, batch_idx: int) -> Tensor | None:
        self.count_bad(batch.get("bad", []))
        if "image" not in batch:
            return None  # every sample of this batch was bad; counted above
        images, uv, params = augment(batch["image"], batch["uv"], self.augment_config,
                                     self.generator("augment"), normalize=self.net.normalize)
        K = params.matrix.to(batch["K"].dtype) @ batch["K"]
        terms = self.losses(images, uv.float(), batch["xyz"], K, batch["valid"],
                            params.angle_deg)
        n = images.shape[0]
        for name, value in terms.items():
            self.log(f"train/{name}", value, prog_bar=name == "loss", batch_size=n)
        self.log_bad(n)
        return terms["loss"]

    def configure_optimizers(self):
        oc = self.cfg.optim
        encoder, head = [], []
        for name, param in self.net.named_parameters():
            in_encoder = name.startswith(("model.encoder.", "model.backend_model.")) and \
                not name.startswith("model.backend_model.fc.")
            (encoder if in_encoder else head).append(param)
        optimizer = torch.optim.Adam([{"params": encoder, "lr": oc.lr},
                                      {"params": head, "lr": oc.lr * oc.head_lr_mult}],
                                     lr=oc.lr, weight_decay=oc.weight_decay)
        return self.warmup_cosine(optimizer, oc.warmup_steps)


def build_finetune_task(cfg: FinetuneConfig) -> FinetuneTask:
    """Model (random, or its encoder from `cfg.init`) + task."""
    net = build_model(cfg.model)
    if cfg.init:
        report = net.model.load_encoder(cfg.init)
        print(f"finetune: encoder initialised from {cfg.init} ({report.loaded} tensors)")
    return FinetuneTask(net, cfg)


def finetune(cfg: FinetuneConfig, out_dir: str | Path, *, resume: bool = False,
             callbacks: list | None = None) -> Path:
    """Run a fine-tuning experiment; returns `out_dir/checkpoints/last.ckpt`.

    Seeds everything from `cfg.seed`, checkpoints every epoch (resumable with `resume`), logs
    CSV + TensorBoard under `out_dir`. Evaluate the result with `handkit evaluate --ckpt`.
    """
    return train(cfg, lambda c: (build_finetune_task(c), FinetuneDataModule(c.data, c.seed)),
                 out_dir, resume=resume, callbacks=callbacks).last_checkpoint


register_task("finetune", config=FinetuneConfig, run=finetune,
              help="supervised fine-tuning of a registered crop model (rn25d, detnet, ...)")
