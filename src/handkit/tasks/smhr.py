"""SMHR training (`handkit train smhr`; specs/mesh.md §3.5, §3.8).

Wires the data (`tasks.smhr_data`), the model (`models.smhr.SMHR` from the registry) and its
loss (`SMHR.loss`: terms in `losses.smhr` / `losses.centernet`, gathered at the GT centres as
SMHR trains). No maths here.

**Recipe** (SMHR's ``opts.py``): Adam, lr 1e-4, × 0.1 at epochs 30, 60 and 90, 150 epochs,
seed 317; weights `losses.smhr.SMHR_WEIGHTS` (the packaged configs spell them out). Options:
``mask_empty_slots`` (True: 2D terms over real hands; False: SMHR's multi-hand average over all
slots, empty ones included), ``hard_fraction`` (0.7: SMHR's top-70 % per-sample mining, which it
uses with the photometric loss).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

from handkit.eval.multihand import gt_centre_scores
from handkit.models.checkpoint import read_checkpoint
from handkit.models.registry import ModelConfig, build_model
from handkit.models.smhr import SMHR
from handkit.tasks.base import TaskBase
from handkit.tasks.registry import register_task
from handkit.tasks.runner import TrainerConfig, train
from handkit.tasks.smhr_data import SMHRDataConfig, SMHRDataModule

__all__ = ["SMHRLossConfig", "SMHROptimConfig", "SMHRConfig", "SMHRTask", "smhr"]


@dataclass(frozen=True)
class SMHRLossConfig:
    """Term weights (defaults: SMHR's multi-hand path, `losses.smhr.SMHR_WEIGHTS["multi"]`).
    ``joints3d``: root-relative 3D L1 × 1000, used only when the data has 3D. ``photometric``:
    SMHR's second stage (× 100, with ``model.options.photometric: true`` and skin masks in the
    data; SMHR then also mines the top 70 %, ``hard_fraction: 0.7``); 0 in its first stage."""

    center: float = 100.0
    handedness: float = 100.0
    reprojection: float = 10.0
    norm: float = 1000.0
    bone: float = 100.0
    joints3d: float = 10.0
    photometric: float = 0.0


@dataclass(frozen=True)
class SMHROptimConfig:
    """Attributes:
        lr: Adam learning rate (1e-4).
        schedule: "step" (SMHR: × `gamma` at each of `milestones`, in epochs) or "cosine"
            (handkit's warm-up + cosine per step, `warmup_steps`).
    """

    lr: float = 1e-4
    schedule: Literal["step", "cosine"] = "step"
    milestones: tuple[int, ...] = (30, 60, 90)
    gamma: float = 0.1
    warmup_steps: int = 0


def _smhr_model() -> ModelConfig:
    return ModelConfig("smhr", "resnet50", 384, {"max_hands": 4, "pick_hand": True})


@dataclass(frozen=True)
class SMHRConfig:
    """A whole SMHR experiment (packaged YAML: handkit/configs/smhr/)."""

    model: ModelConfig = field(default_factory=_smhr_model)
    seed: int = 317
    threads: int = 0
    loss: SMHRLossConfig = field(default_factory=SMHRLossConfig)
    optim: SMHROptimConfig = field(default_factory=SMHROptimConfig)
    data: SMHRDataConfig = field(default_factory=SMHRDataConfig)
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=150))
    mask_empty_slots: bool = True
    hard_fraction: float | None = None
    joints3d_align: Literal["none", "rotation"] = "none"  # losses.smhr.joints3d_loss
    init: str | None = None  # an SMHR checkpoint whose weights start the run (`load_init`)


class SMHRTask(TaskBase):
    """Trains an `SMHR` model on batches of `data.smhr_inputs.SMHRItems`."""

    def __init__(self, net: SMHR, cfg: SMHRConfig):
        super().__init__(cfg, "smhr")
        self.net = net

    def _K(self, batch: dict) -> Tensor | None:
        """The inputs' intrinsics for ``camera="intrinsics"`` (None for SMHR's fixed camera)."""
        if not self.net.uses_K:
            return None
        if not bool(batch["has_K"].all()):
            raise ValueError("data: camera='intrinsics' needs K for every image; this dataset "
                             "(or the composition) has none. Use camera='fixed'.")
        return batch["K"]

    def _mask(self, batch: dict) -> Tensor | None:
        """The skin masks for the photometric term (None when it is off)."""
        if self.cfg.loss.photometric <= 0:
            return None
        if not bool(batch["has_mask"].all()):
            raise ValueError("data: loss.photometric > 0 needs a hand mask for every image; "
                             "this dataset has none. Set loss.photometric: 0.")
        return batch["mask"]

    def losses(self, batch: dict) -> dict[str, Tensor]:
        """`SMHR.loss` on one batch, weighted by ``cfg.loss``."""
        images = self.net.preprocess(batch["image"])
        xyz = batch["xyz"] if bool(batch["has_xyz"].all()) else None
        return self.net.loss(images, hm=batch["hm"], ind=batch["ind"], slot=batch["slot"],
                             uv=batch["uv"], valid=batch["valid"], is_right=batch["is_right"],
                             handmap=batch["handmap"], xyz=xyz, K=self._K(batch),
                             mask=self._mask(batch),
                             weights=dataclasses.asdict(self.cfg.loss),
                             mask_empty_slots=self.cfg.mask_empty_slots,
                             hard_fraction=self.cfg.hard_fraction,
                             joints3d_align=self.cfg.joints3d_align)

    def validation_metrics(self, batch: dict) -> dict[str, Tensor]:
        """The loss and SMHR's protocol at the GT centres (`eval.multihand.gt_centre_scores`,
        logged as ``val/gtc_*``: no detection involved)."""
        terms = self.losses(batch)
        images = self.net.preprocess(batch["image"])
        out = self.net.read_cells(self.net(images), batch["ind"],
                                  self.net.camera_K(images, self._K(batch)))
        b, s = batch["ind"].shape
        scores = gt_centre_scores(out["uv"].reshape(b, s, 21, 2), batch["uv"], batch["slot"],
                                  out["is_right"], batch["is_right"], batch["valid"])
        return {"loss": terms["loss"], **{f"gtc_{k}": v for k, v in scores.items()}}

    def configure_optimizers(self):
        oc = self.cfg.optim
        optimizer = torch.optim.Adam(self.net.parameters(), lr=oc.lr)
        if oc.schedule == "cosine":
            return self.warmup_cosine(optimizer, oc.warmup_steps)
        schedule = torch.optim.lr_scheduler.MultiStepLR(optimizer, list(oc.milestones), oc.gamma)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule,
                                                         "interval": "epoch"}}


def load_init(net: SMHR, path: str | Path) -> tuple[int, int]:
    """Start `net` from the weights of an SMHR checkpoint: SMHR's second stage from its first
    (``Single_pho`` from ``Single``, specs/mesh.md §3.5; ``init:`` in a config).

    Every network tensor of the checkpoint must exist in `net` with the same shape, and every
    tensor of `net` outside its heads must come from the checkpoint; head tensors it lacks keep
    their initialisation (a photometric stage's texture and light heads started from a first
    stage without them).

    Returns:
        (tensors copied, tensors kept).

    Raises:
        ValueError: not an SMHR checkpoint (naming the model it is), or a tensor that does not
            fit `net` (another backbone, size or parameter set).
    """
    state, hparams = read_checkpoint(path)
    config = hparams.get("config", {}) if isinstance(hparams, dict) else {}
    model = (config.get("model") or {}).get("name")
    if model != "smhr":
        raise ValueError(f"init: {path} is a checkpoint of model {model!r}; the smhr task "
                         "starts from an 'smhr' checkpoint.")
    theirs = {k[len("net."):]: v for k, v in state.items() if k.startswith("net.")}
    own = net.state_dict()
    wrong = sorted(k for k, v in theirs.items() if k not in own or own[k].shape != v.shape)
    if wrong:
        raise ValueError(f"init: {path}: {len(wrong)} tensors do not fit this model (e.g. "
                         f"{wrong[:3]}); build the same backbone, size and parameter set.")
    missing = sorted(k for k in own if k not in theirs and ".heads." not in f".{k}")
    if missing:
        raise ValueError(f"init: {path} lacks {len(missing)} tensors of this model outside its "
                         f"heads (e.g. {missing[:3]}); build the same backbone and size.")
    net.load_state_dict(theirs, strict=False)
    return len(theirs), len(own) - len(theirs)


def smhr(cfg: SMHRConfig, out_dir: str | Path, *, resume: bool = False,
         callbacks: list | None = None) -> Path:
    """Train SMHR; returns `out_dir/checkpoints/last.ckpt` (resumable with `resume`)."""
    if cfg.optim.schedule not in ("step", "cosine"):
        raise ValueError(f"optim.schedule: 'step' or 'cosine', got {cfg.optim.schedule!r}.")
    if cfg.model.name != "smhr":
        raise ValueError(f"model.name: the smhr task trains 'smhr', got {cfg.model.name!r}.")
    if cfg.model.options.get("camera") == "intrinsics" and cfg.data.input == "crop" \
            and cfg.data.augment:
        raise ValueError("model.options.camera: 'intrinsics' with rotated training crops "
                         "(data.input: crop, data.augment: true) would need a rotated K, which "
                         "the translation decoding (f_x, f_y, c_x, c_y) cannot express; use "
                         "camera: fixed (SMHR's) or data.input: whole.")

    def build(c: SMHRConfig) -> tuple[SMHRTask, SMHRDataModule]:
        net = build_model(c.model)
        if c.init and not resume:  # a resumed run restores its own weights, so the init
            load_init(net, c.init)    # file need not exist any more
        return SMHRTask(net, c), SMHRDataModule(c.data, image_size=c.model.image_size,
                                                max_objs=net.max_hands, seed=c.seed)

    return train(cfg, build, out_dir, resume=resume, callbacks=callbacks).last_checkpoint


register_task("smhr", config=SMHRConfig, run=smhr,
              help="SMHR single-stage multi-hand meshes (single-hand crops or multi-hand images)")
