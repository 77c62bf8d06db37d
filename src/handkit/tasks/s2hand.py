"""S2HAND's four training stages (specs/mesh.md §2.6) as one task: `handkit train s2hand`.

The task wires parts and does no maths: the data (`data.s2hand`: images, K, 2D
detections), S2HAND's in-plane rotation augmentation (U(−max, max) about the image centre,
the detections warped alike and K' = A K; the 3D is never used; `rotation_turns_3d` below),
the model's own loss
(`models.s2hand.S2Hand.loss`: the stage's listed terms, skipped batches), Adam and MultiStepLR.

| stage | official config | trains (by the listed losses) |
|---|---|---|
| ``ssl_shape`` | HO3D SSL-shape | encoder + MANO decoder |
| ``ssl_kp`` | HO3D SSL-kp (``hm_train``) | hourglass only |
| ``ssl_finetune`` | HO3D SSL-finetune, from SSL-shape + SSL-kp checkpoints | everything |
| ``ssl_e2e`` | HO3D / FreiHAND SSL-e2e, from scratch | everything |

Packaged configs (``handkit/configs/s2hand/``): the official recipes ``ssl_shape``,
``ssl_kp``, ``ssl_finetune``, ``ssl_e2e`` and their CPU twins ``cpu_*``.

**Stage initialisation** (``init.ssl_shape`` / ``init.ssl_kp``): the encoder and decoder from
an SSL-shape checkpoint, the hourglass from an SSL-kp checkpoint; a checkpoint of another
stage or another model fails with a message naming both.

**Which 3D a rotated image asks for** (``rotation_turns_3d``). The official K' = A·K keeps the
camera-frame 3D the network must predict unchanged while the image turns: the hand's
orientation in the image is then (augmentation angle + its own), and the orientation to
predict is its own alone. On FreiHAND, whose hands are mostly upright, the network can tell how
far an image was turned; on a world whose hands are turned uniformly (handkit's synthetic
world) it cannot, and the in-plane orientation is unlearnable (docs/s2hand.md). With
``rotation_turns_3d: true`` (handkit's, off by default) the 3D turns with the image about the
optical axis, R_z (`geometry.camera.rotate_about_z`), and K' = A·K·R_zᵀ, which is K itself
when the principal point is the image centre and fx = fy: the rotated detections are the
projections of the turned 3D, and the orientation to predict is the one the image shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

from handkit.data.augment import rotation_about, transform_keypoints, warp_affine
from handkit.eval.metrics import pa_mpjpe
from handkit.geometry.camera import optical_axis_rotation
from handkit.models.checkpoint import read_checkpoint
from handkit.models.registry import ModelConfig, build_model
from handkit.models.s2hand import LOSS_NAMES, S2Hand
from handkit.tasks.base import TaskBase
from handkit.tasks.registry import register_task
from handkit.tasks.runner import TrainerConfig, train
from handkit.data.s2hand import S2HandDataConfig
from handkit.tasks.s2hand_data import S2HandDataModule
from handkit.utils.check import check_choice

__all__ = ["STAGES", "STAGE_PARTS", "S2HandWeights", "S2HandOptimConfig", "S2HandInitConfig",
           "S2HandConfig", "S2HandTask", "build_s2hand_task", "train_s2hand"]

STAGES = {"ssl_shape": "SSL-shape: encoder + decoder from 2D detections",
          "ssl_kp": "SSL-kp: the hourglass from 2D detections",
          "ssl_finetune": "SSL-finetune: everything, from SSL-shape and SSL-kp",
          "ssl_e2e": "SSL-e2e: everything from scratch"}
STAGE_PARTS = {"ssl_shape": ("encoder.", "decoder."), "ssl_kp": ("hourglass.",)}
"""What an initialising checkpoint of each stage provides (state-dict prefixes of `S2Hand`)."""


@dataclass(frozen=True)
class S2HandWeights:
    """λ of every loss term (``options/train_options.py`` defaults), by loss name."""

    open_2dj: float = 1e-3
    hm_integral: float = 1e-3
    kp_cons: float = 2e-4
    open_bone_direc: float = 0.1
    mscale: float = 0.1
    tsa_poses: float = 0.1
    mshape: float = 1e-2
    triangle: float = 0.1
    texture: float = 5e-3
    mrgb: float = 1e-3
    mtex: float = 5e-3
    sil: float = 1.0
    bone_len_2d: float = 1e-2  # handkit's depth anchor (losses.s2hand.bone_length_2d_loss)


@dataclass(frozen=True)
class S2HandOptimConfig:
    """Adam (β = 0.9, 0.999, no weight decay) with MultiStepLR (γ 0.5) at `milestones` (epochs)."""

    lr: float = 1e-3
    milestones: tuple[int, ...] = (30, 60, 90, 120, 150)
    gamma: float = 0.5
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0


@dataclass(frozen=True)
class S2HandInitConfig:
    """Checkpoints of earlier stages ("" = none): ``ssl_shape`` gives the encoder and decoder,
    ``ssl_kp`` the hourglass."""

    ssl_shape: str = ""
    ssl_kp: str = ""


_E2E_LOSSES = ("tsa_poses", "open_2dj", "mscale", "open_bone_direc", "hm_integral", "kp_cons",
               "triangle", "mshape", "texture", "mtex", "mrgb")


def _s2hand_model() -> ModelConfig:
    return ModelConfig("s2hand", "efficientnet_b3", 224, {})


@dataclass(frozen=True)
class S2HandConfig:
    """One S2HAND stage; the defaults are FreiHAND's SSL-e2e (180 epochs, batch 32)."""

    model: ModelConfig = field(default_factory=_s2hand_model)
    stage: Literal["ssl_shape", "ssl_kp", "ssl_finetune", "ssl_e2e"] = "ssl_e2e"
    losses: tuple[str, ...] = _E2E_LOSSES
    weights: S2HandWeights = field(default_factory=S2HandWeights)
    init: S2HandInitConfig = field(default_factory=S2HandInitConfig)
    rotate: bool = True
    max_angle_deg: float = 180.0
    rotation_turns_3d: bool = False
    texture_weight_rule: Literal["freihand", "ho3d"] = "freihand"
    mtex_mode: Literal["official", "per_sample"] = "official"
    seed: int = 5
    threads: int = 0
    optim: S2HandOptimConfig = field(default_factory=S2HandOptimConfig)
    data: S2HandDataConfig = field(default_factory=S2HandDataConfig)
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=180))


def _mean_px(a: Tensor, b: Tensor) -> Tensor:
    """Mean distance (px) over the joints where both are finite (NaN when none are)."""
    d = (a - b).norm(dim=-1)
    ok = torch.isfinite(d)
    return d[ok].mean() if ok.any() else d.new_tensor(float("nan"))


class S2HandTask(TaskBase):
    """One S2HAND stage (module doc).

    Args:
        net: an `S2Hand`. cfg: the stage's config (stored in checkpoints, with its ``stage``).
    """

    def __init__(self, net: S2Hand, cfg: S2HandConfig):
        check_choice(cfg.stage, STAGES, name="stage")
        if not cfg.losses:
            raise ValueError("losses: empty; list the stage's terms (configs/s2hand/*.yaml).")
        for name in cfg.losses:
            check_choice(name, LOSS_NAMES, name="losses")
        super().__init__(cfg, "s2hand")
        self.net = net
        self.loss_weights = {n: float(getattr(cfg.weights, n)) for n in cfg.losses}

    def augment(self, batch: dict) -> tuple[Tensor, Tensor, Tensor]:
        """(images (B, 3, S, S) in [0, 1], detections (B, 21, 2) px, K (B, 3, 3)) after the
        stage's rotation about the image centre (module doc: K' = A·K, or A·K·R_zᵀ with
        `rotation_turns_3d`)."""
        images = batch["image"].float() / 255.0
        det, K = batch["det"], batch["K"]
        if not self.cfg.rotate:
            return images, det, K
        b, size = images.shape[0], images.shape[-1]
        g = self.generator("augment")
        angle = (torch.rand(b, generator=g, device=g.device, dtype=torch.float64) * 2 - 1) \
            * self.cfg.max_angle_deg
        centre = torch.full((b, 2), size / 2, dtype=torch.float64, device=images.device)
        A = rotation_about(angle.to(images.device), centre)
        K_new = A @ K.to(torch.float64)
        if self.cfg.rotation_turns_3d:
            K_new = K_new @ optical_axis_rotation(angle.to(images.device)).transpose(1, 2)
        return warp_affine(images, A), transform_keypoints(det, A), K_new.to(K.dtype)

    def training_step(self, batch: dict, batch_idx: int) -> Tensor | None:
        self.count_bad(batch.get("bad", []))
        if "image" not in batch:
            return None  # every sample was bad; counted above
        images, det, K = self.augment(batch)
        out = self.net.loss(images, uv=det, K=K, valid=batch["conf"], weights=self.loss_weights,
                            texture_weight_rule=self.cfg.texture_weight_rule,
                            index=batch["index"], mtex_mode=self.cfg.mtex_mode)
        n = images.shape[0]
        empty = int(out.pop("skipped_samples"))
        if empty:
            self.count_bad(["no detected joint"] * empty)
        total = out.pop("loss")
        for name, value in out.items():
            self.log(f"train/{name}", value, batch_size=n)
        self.log_bad(n)
        if total is None:  # S2HAND skips a batch whose listed terms add up to < 1e-10
            self.log("train/skipped_batches", 1.0, batch_size=n, reduce_fx="sum")
            return None
        self.log("train/loss", total.detach(), prog_bar=True, batch_size=n)
        return total

    def on_before_optimizer_step(self, optimizer) -> None:
        """A step whose gradients are not all finite changes nothing: every gradient is dropped
        (Adam skips a parameter without one; its moments stay) and the step is counted
        (``train/nonfinite_grad_steps``). A finite loss can still have NaN gradients, e.g. once
        a hand pushed far from the camera (the 2D terms' degenerate minimum) projects to
        sub-pixel triangles; without this one such batch ended the run."""
        params = [p for group in optimizer.param_groups for p in group["params"]
                  if p.grad is not None]
        bad = not all(bool(torch.isfinite(p.grad).all()) for p in params)
        if bad:
            for p in params:
                p.grad = None
        self.log("train/nonfinite_grad_steps", float(bad), reduce_fx="sum", batch_size=1)

    def validation_metrics(self, batch: dict) -> dict[str, Tensor]:
        """2D errors against the labels (px) of the projected joints, the heat-map branch and
        the detections, as the official code reports; PA-MPJPE (mm) where 3D labels exist."""
        images = batch["image"].float() / 255.0
        out = self.net.run(images, batch["K"], texture=False, rendering=False)
        gt = batch["uv_gt"]
        metrics = {"proj_px": _mean_px(out.j2d, gt), "hm_px": _mean_px(out.hm_uv[-1], gt),
                   "det_px": _mean_px(batch["det"], gt)}
        xyz = batch["xyz_gt"]
        valid = torch.isfinite(xyz).all(-1)
        if valid.any(-1).all():
            metrics["pa_mpjpe_mm"] = 1000 * pa_mpjpe(out.joints, torch.nan_to_num(xyz), valid)
        return metrics

    def configure_optimizers(self):
        oc = self.cfg.optim
        optimizer = torch.optim.Adam(self.net.parameters(), lr=oc.lr, betas=tuple(oc.betas),
                                     weight_decay=oc.weight_decay)
        schedule = torch.optim.lr_scheduler.MultiStepLR(optimizer, list(oc.milestones),
                                                        gamma=oc.gamma)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule,
                                                         "interval": "epoch"}}


def load_stage(net: S2Hand, path: str | Path, stage: str, *, into: str) -> int:
    """Copy the parts a checkpoint of `stage` provides (`STAGE_PARTS`) into `net`.

    Args:
        net: the model being initialised. path: an `handkit train s2hand` checkpoint.
        stage: the stage the checkpoint must come from. into: the stage being started (for
            messages).

    Returns:
        The number of tensors copied.

    Raises:
        ValueError: the checkpoint is of another model or stage (the message names both), or
            its parts do not fit `net` (another backbone or size).
    """
    state, hparams = read_checkpoint(path)
    config = hparams.get("config", {}) if isinstance(hparams, dict) else {}
    model = (config.get("model") or {}).get("name")
    found = config.get("stage")
    if model != "s2hand" or found != stage:
        what = f"model {model!r}" if model != "s2hand" else f"stage {found!r}"
        raise ValueError(f"{path}: a checkpoint of {what}; stage {into!r} takes init.{stage} "
                         f"from an s2hand checkpoint of stage {stage!r}.")
    prefixes = tuple(f"net.{p}" for p in STAGE_PARTS[stage])
    part = {k[len("net."):]: v for k, v in state.items() if k.startswith(prefixes)}
    own = {k: v for k, v in net.state_dict().items() if k.startswith(STAGE_PARTS[stage])}
    wrong = sorted(k for k in own if k not in part or part[k].shape != own[k].shape)
    if wrong or len(part) != len(own):
        raise ValueError(f"{path}: its {'/'.join(STAGE_PARTS[stage])} weights do not fit this "
                         f"model (e.g. {wrong[:3] or sorted(set(part) - set(own))[:3]}); build "
                         f"the same backbone and sizes as the {stage} run.")
    net.load_state_dict(part, strict=False)
    return len(part)


def build_s2hand_task(cfg: S2HandConfig) -> S2HandTask:
    """The model (random, then the earlier stages' parts from `cfg.init`) and the task."""
    if cfg.model.name != "s2hand":
        raise ValueError(f"model.name: the s2hand task trains the 's2hand' model, got "
                         f"{cfg.model.name!r}.")
    net = build_model(cfg.model)
    if cfg.stage == "ssl_finetune" and not (cfg.init.ssl_shape and cfg.init.ssl_kp):
        raise ValueError("init: stage 'ssl_finetune' starts from an SSL-shape and an SSL-kp "
                         "checkpoint; set init.ssl_shape and init.ssl_kp.")
    for stage in STAGE_PARTS:
        path = getattr(cfg.init, stage)
        if path:
            n = load_stage(net, path, stage, into=cfg.stage)
            print(f"s2hand {cfg.stage}: {n} tensors of {'/'.join(STAGE_PARTS[stage])} from "
                  f"{path}")
    return S2HandTask(net, cfg)


def train_s2hand(cfg: S2HandConfig, out_dir: str | Path, *, resume: bool = False,
                 callbacks: list | None = None) -> Path:
    """Run one stage; returns `out_dir/checkpoints/last.ckpt` (resumable with `resume`)."""
    return train(cfg, lambda c: (build_s2hand_task(c),
                                 S2HandDataModule(c.data, c.model.image_size, c.seed)),
                 out_dir, resume=resume, callbacks=callbacks).last_checkpoint


register_task("s2hand", config=S2HandConfig, run=train_s2hand,
              help="S2HAND's self-supervised stages (ssl_shape, ssl_kp, ssl_finetune, ssl_e2e)")
