"""Contrastive pre-training: SimCLR, PeCLR, SiMHand and their adaptive-weighted `_w` variants.

The task wires parts and does no maths (style rule R9): the batched augmenter
(`data.augment`), an encoder from the backbone registry, the SimCLR projection head, and the
losses of `losses.contrastive`. Defaults are SiMHand's README recipe (specs/pretrain.md §1):
ResNet-50, 128-px views, `--color_jitter --random_crop --rotate --crop --resize`, τ = 0.5,
LARS(Adam), lr 1e-4·√1024, warm-up 10 epochs then cosine, 100 epochs.

Methods (official experiment names in brackets):
- simclr  [simclr / simclr_w]: two augmentations of one image; plain projections.
- peclr   [peclr (hybrid2) / peclr_w]: as SimCLR, projections made equivariant (`peclr_transform`).
- simhand [simhand / simhand_w]: view 2 is the anchor's mined similar hand; PeCLR transform.
`loss.weighting` = "none" gives plain NT-Xent; "linear"/"non_linear" the SiMHand weights (`_w`).

Batch semantics (§1.7): SiMHand's "batch 8192" ran DataParallel on 8 GPUs, i.e. the loss, the
min–max weight normalisation and BatchNorm statistics were computed per 1024-pair chunk. Here
`loss.loss_chunk_size` splits each device's batch into chunks that go through the encoder, the
head and the loss separately, and the chunk losses are averaged: batch 8192 with chunk 1024 is
the official objective on any number of devices. With DDP, each device's batch is also its own
chunk (no gather), which is the same objective.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from handkit.data.augment import AugmentConfig, augment
from handkit.losses.contrastive import (NTXentLoss, WeightedNTXentLoss, chunked_loss,
                                        original_view_joints, peclr_transform,
                                        select_weight_joints)
from handkit.models.backbones import IMAGENET_MEAN, IMAGENET_STD, create_backbone
from handkit.models.heads import SimCLRHead
from handkit.models.encoders import save_torchvision
from handkit.models.checkpoint import read_checkpoint
from handkit.tasks.base import TaskBase
from handkit.tasks.optim import LARS, scaled_base_lr, weight_decay_groups
from handkit.tasks.pretrain_data import PretrainDataConfig, PretrainDataModule
from handkit.tasks.registry import register_task
from handkit.tasks.runner import TrainerConfig, train
from handkit.utils.check import check_choice

__all__ = ["LossConfig", "OptimConfig", "PretrainConfig", "PretrainTask", "build_task",
           "IMAGENET_MEAN", "IMAGENET_STD", "pretrain", "export_encoder"]

METHODS = ("simclr", "peclr", "simhand")


@dataclass(frozen=True)
class LossConfig:
    """Contrastive loss options (specs/pretrain.md §1.4, §1.6.3); defaults are SiMHand's README.

    Attributes:
        weighting: "none" (plain NT-Xent) or the SiMHand weight type "linear" / "non_linear".
        diff_type: keypoint distance, "mpjpe" | "w_o_abs" | "w_abs".
        mode: where weights enter, "pos_neg" | "pos" | "neg".
        temperature: τ, 0.5.
        lambda_pos, lambda_neg: non-linear slopes (official choices 5/2.5/1 and 0.05/0.01/0.005).
        pca: "off" | "official" (released, unsound) | "fixed".
        pca_dim: 14.
        linear_eps: 0 officially (NaN weights when all positive distances tie); > 0 fixes it.
        joints_type: "augmented" | "original".
        fix_joints_type: honour "original" (official code always uses augmented joints).
        loss_chunk_size: pairs per loss/BN chunk; 0 = the whole device batch.
    """

    weighting: Literal["none", "linear", "non_linear"] = "none"
    diff_type: Literal["mpjpe", "w_o_abs", "w_abs"] = "mpjpe"
    mode: Literal["pos_neg", "pos", "neg"] = "pos_neg"
    temperature: float = 0.5
    lambda_pos: float | None = None
    lambda_neg: float | None = None
    pca: Literal["off", "official", "fixed"] = "off"
    pca_dim: int = 14
    linear_eps: float = 0.0
    joints_type: Literal["augmented", "original"] = "augmented"
    fix_joints_type: bool = False
    loss_chunk_size: int = 0


@dataclass(frozen=True)
class OptimConfig:
    """Attributes:
        optimizer: "lars" (LARS around Adam, official default) or "adam" (cosine, no warm-up).
        lr: 1e-4, scaled to `lr·sqrt(lr_batch·accumulate)`.
        lr_batch: SiMHand hard-codes 1024; PeCLR uses its batch size (128).
        weight_decay: 1e-6 on parameters whose name lacks "bias"/"bn".
        warmup_epochs: 10.
        lars_eta: 0.02.
    """

    optimizer: Literal["lars", "adam"] = "lars"
    lr: float = 1e-4
    lr_batch: int = 1024
    weight_decay: float = 1e-6
    warmup_epochs: int = 10
    lars_eta: float = 0.02


@dataclass(frozen=True)
class PretrainConfig:
    """A whole pre-training experiment; the packaged YAML files (handkit/configs/pretrain/)
    override these defaults.

    Speed options (docs/performance.md; the loss is unchanged): `channels_last` (NHWC
    activations), `compile` (torch.compile of encoder + head and of the augmenter's colour
    stage; the first step compiles, minutes on a small CPU) and
    `trainer.precision="bf16-mixed"` (the network runs in bf16 autocast; the augmentation and
    the loss stay fp32).
    """

    method: Literal["simclr", "peclr", "simhand"] = "simhand"
    encoder: str = "resnet50"
    hidden_dim: int = 512
    output_dim: int = 128
    init: str | None = None
    channels_last: bool = True
    compile: bool = False
    seed: int = 5
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    data: PretrainDataConfig = field(default_factory=PretrainDataConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)


class PretrainTask(TaskBase):
    """Contrastive pre-training task.

    Args:
        encoder: a `models.backbones.Backbone` (its `forward_pooled` gives the representation).
        head: the projection head (`SimCLRHead`).
        cfg: the experiment config (stored as plain data in checkpoints).
    """

    def __init__(self, encoder: nn.Module, head: nn.Module, cfg: PretrainConfig):
        check_choice(cfg.method, METHODS, name="method")
        super().__init__(cfg, "pretrain")
        self.criterion = _criterion(cfg.loss)
        self.encoder, self.head = encoder, head

    def _network(self, images: Tensor) -> Tensor:
        return self.head(self.encoder.forward_pooled(images))

    def project(self, images: Tensor) -> Tensor:
        """(B, 3, H, W) normalised float → (B, output_dim) head output (not normalised)."""
        if self.cfg.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        if not self.cfg.compile:
            return self._network(images)
        if "_compiled" not in self.__dict__:   # a plain attribute: state-dict keys unchanged
            self.__dict__["_compiled"] = torch.compile(self._network)
        return self.__dict__["_compiled"](images)

    def chunk_loss(self, views1: Tensor, views2: Tensor, jitter: Tensor, angle_deg: Tensor,
                   joints1: Tensor, joints2: Tensor) -> Tensor:
        """Loss of one chunk of N pairs; both views go through the network together (official).

        Args:
            views1, views2: (N, 3, h, w) float, normalised augmented views.
            jitter: (2N, 2) px, the augmenter's stored crop jitter, view-1 rows first.
            angle_deg: (2N,) degrees, the augmenter's rotation, view-1 rows first.
            joints1, joints2: (N, 21, 2) px of the views, for the SiMHand weights.
        """
        n = views1.shape[0]
        z = self.project(torch.cat([views1, views2])).float()
        with _full_precision(z):
            return self._projection_loss(z, n, jitter, angle_deg, joints1, joints2)

    def _projection_loss(self, z: Tensor, n: int, jitter: Tensor, angle_deg: Tensor,
                         joints1: Tensor, joints2: Tensor) -> Tensor:
        if self.cfg.method == "simclr":
            z = F.normalize(z, dim=1)
        else:
            z = peclr_transform(z, jitter[:, 0], jitter[:, 1], angle_deg,
                                image_size=self.cfg.augment.output_size,
                                crop=self.cfg.augment.crop, rotate=self.cfg.augment.rotate)
        if self.cfg.loss.weighting == "none":
            return self.criterion(z[:n], z[n:])
        return self.criterion(z[:n], z[n:], joints1, joints2)

    def _pair_loss(self, views1: Tensor, views2: Tensor, jitter1: Tensor, jitter2: Tensor,
                   angle1: Tensor, angle2: Tensor, joints1: Tensor, joints2: Tensor) -> Tensor:
        """`chunk_loss` with the per-view augmentation parameters of one chunk of pairs."""
        return self.chunk_loss(views1, views2, torch.cat([jitter1, jitter2]),
                               torch.cat([angle1, angle2]), joints1, joints2)

    def training_step(self, batch: dict, batch_idx: int) -> Tensor | None:
        self.count_bad(batch.get("bad", []))
        if "image1" not in batch:
            return None  # every sample of this batch was bad; counted above
        g = self.generator("augment")  # both views draw from it, view 1 first
        views, joints, params = [], [], []
        with _full_precision(batch["image1"]):
            for k in ("1", "2"):
                v, j, p = augment(batch[f"image{k}"], batch[f"keypoints{k}"], self.cfg.augment,
                                  g, normalize=(IMAGENET_MEAN, IMAGENET_STD),
                                  compiled=self.cfg.compile)
                views.append(v)
                joints.append(j.float())
                params.append(p)
        lc = self.cfg.loss
        original = [None, None]
        if lc.fix_joints_type and lc.joints_type == "original":
            original = [original_view_joints(batch[f"keypoints{k}"].float(),
                                             tuple(batch[f"image{k}"].shape[-2:]),
                                             self.cfg.augment.output_size) for k in ("1", "2")]
        j1, j2 = select_weight_joints(joints[0], joints[1], *original, lc.joints_type,
                                      fixed=lc.fix_joints_type)
        loss = chunked_loss(self._pair_loss, views[0], views[1], params[0].jitter,
                            params[1].jitter, params[0].angle_deg, params[1].angle_deg, j1, j2,
                            loss_chunk_size=lc.loss_chunk_size or None)
        n = views[0].shape[0]
        self.log("train/loss", loss, prog_bar=True, batch_size=n, sync_dist=False)
        self.log_bad(n)
        return loss

    def configure_optimizers(self):
        oc, tc = self.cfg.optim, self.cfg.trainer
        base_lr = scaled_base_lr(oc.lr, oc.lr_batch, tc.accumulate_grad_batches)
        adam = torch.optim.Adam(weight_decay_groups(self, oc.weight_decay), lr=base_lr)
        if oc.optimizer == "lars":
            return self.warmup_cosine(LARS(adam, eta=oc.lars_eta),
                                      oc.warmup_epochs * self.steps_per_epoch())
        return self.warmup_cosine(adam, 0)


def _criterion(lc: LossConfig) -> nn.Module:
    """The contrastive loss of one chunk of projections (validates the loss options)."""
    if lc.weighting == "none":
        return NTXentLoss(lc.temperature)
    return WeightedNTXentLoss(lc.weighting, lc.diff_type, lc.mode, lc.temperature,
                              lambda_pos=lc.lambda_pos, lambda_neg=lc.lambda_neg, pca=lc.pca,
                              pca_dim=lc.pca_dim, linear_eps=lc.linear_eps)


def _full_precision(like: Tensor):
    """Autocast off on `like`'s device: under bf16-mixed only the network runs in bf16."""
    return torch.autocast(like.device.type, enabled=False)


def build_task(cfg: PretrainConfig) -> PretrainTask:
    """Encoder (from the registry, optionally initialised from `cfg.init`) + head + task."""
    encoder = create_backbone(cfg.encoder, weights=cfg.init)
    head = SimCLRHead(encoder.out_channels, cfg.hidden_dim, cfg.output_dim)
    task = PretrainTask(encoder, head, cfg)
    if cfg.channels_last:
        task = task.to(memory_format=torch.channels_last)
    return task


def pretrain(cfg: PretrainConfig, out_dir: str | Path, *, resume: bool = False,
             callbacks: list | None = None) -> Path:
    """Run a pre-training experiment; returns the exported encoder file.

    Seeds everything (model initialisation included) from `cfg.seed`, trains with per-epoch
    checkpoints under `out_dir/checkpoints` (resumable), and writes the encoder as a plain
    torchvision ResNet state dict to `out_dir/encoder_torchvision.pth` (PeCLR's release layout,
    `{"state_dict": ...}`), ready for `handkit finetune --init`.
    """
    check_choice(cfg.method, METHODS, name="method")
    positives = "mined" if cfg.method == "simhand" else "same"
    run = train(cfg, lambda c: (build_task(c), PretrainDataModule(c.data, positives, c.seed)),
                out_dir, resume=resume, callbacks=callbacks)
    out = Path(out_dir) / "encoder_torchvision.pth"
    if run.trainer.is_global_zero:
        save_torchvision(run.task.encoder, out)
    return out


def export_encoder(checkpoint: str | Path, out: str | Path,
                   container: Literal["state_dict", "top"] = "state_dict") -> Path:
    """Write the encoder of a pre-training checkpoint as a torchvision ResNet state dict.

    Args:
        checkpoint: a `handkit pretrain` Lightning checkpoint (read with weights_only=True).
        out: output file.
        container: "state_dict" (PeCLR release: `{"state_dict": sd}`) or "top" (SiMHand hub).
    """
    state, hparams = read_checkpoint(checkpoint)
    config = hparams.get("config")
    if not isinstance(config, dict) or "encoder" not in config:
        raise ValueError(f"{checkpoint}: hyper_parameters.config.encoder missing; not a "
                         "`handkit pretrain` checkpoint.")
    encoder = create_backbone(config["encoder"])
    encoder_state = {k[len("encoder."):]: v for k, v in state.items() if k.startswith("encoder.")}
    encoder.load_state_dict(encoder_state)
    save_torchvision(encoder, out, container=container)
    return Path(out)


register_task("pretrain", config=PretrainConfig, run=pretrain,
              help="contrastive pre-training: SimCLR, PeCLR, SiMHand (and their _w variants)")
