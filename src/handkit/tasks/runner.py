"""Run a Lightning task the same way for every method: devices, precision, checkpoints, resume.

`TrainerConfig` is the part of every experiment config that says *where and how* to train, not
*what*; `fit` builds the `lightning.Trainer`, checkpoints every epoch (`last.ckpt` plus
the newest `epoch=E.ckpt` only: keeping every epoch of a 100-epoch ResNet-50 run would fill
~30 GB), logs CSV and TensorBoard under `out_dir`, and resumes from `last.ckpt`.
"""

from __future__ import annotations

import csv
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment

from handkit.models.checkpoint import read_checkpoint
from handkit.tasks.base import seed_run

__all__ = ["TrainerConfig", "fit", "train", "TrainingRun"]


@dataclass(frozen=True)
class TrainerConfig:
    """Where and how to train.

    Attributes:
        accelerator: "auto" picks a GPU when one is present.
        devices: devices per node ("auto", or a count).
        num_nodes: nodes for multi-node DDP.
        strategy: "auto" or "ddp" (gloo on CPU, NCCL on GPU).
        precision: Lightning precision ("32-true", "bf16-mixed", "16-mixed").
        max_epochs: training epochs.
        max_steps: stop after this many optimiser steps (-1: no limit).
        limit_train_batches: batches per epoch (int) or fraction (float); 1.0 = all.
        accumulate_grad_batches: gradient accumulation.
        log_every_n_steps: logging interval.
        progress_bar: show a progress bar.
        check_val_every_n_epoch: validate every N epochs (when the data module has validation
            data; DIGIT's official recipe: 2).
        num_sanity_val_steps: validation batches run before training (Lightning's default 2).
    """

    accelerator: str = "auto"
    devices: str = "auto"
    num_nodes: int = 1
    strategy: str = "auto"
    precision: Literal["32-true", "bf16-mixed", "16-mixed", "64-true"] = "32-true"
    max_epochs: int = 100
    max_steps: int = -1
    limit_train_batches: float = 1.0
    accumulate_grad_batches: int = 1
    log_every_n_steps: int = 10
    progress_bar: bool = True
    check_val_every_n_epoch: int = 1
    num_sanity_val_steps: int = 2

    def __post_init__(self) -> None:
        if self.max_epochs < 1 and not (self.max_epochs == -1 and self.max_steps > 0):
            raise ValueError(f"trainer.max_epochs: expected >= 1 (or -1 with trainer.max_steps "
                             f"> 0), got {self.max_epochs}.")
        if self.max_steps < 1 and self.max_steps != -1:
            raise ValueError(f"trainer.max_steps: expected >= 1 or -1 (no limit), got "
                             f"{self.max_steps}.")
        for name in ("num_nodes", "accumulate_grad_batches", "log_every_n_steps",
                     "check_val_every_n_epoch"):
            if getattr(self, name) < 1:
                raise ValueError(f"trainer.{name}: expected >= 1, got {getattr(self, name)}.")
        if not _valid_devices(str(self.devices)):
            raise ValueError(f"trainer.devices: expected 'auto', a count >= 1, -1 (all) or "
                             f"device indices like '0,1', got {self.devices!r}.")
        if not self.limit_train_batches > 0:
            raise ValueError(f"trainer.limit_train_batches: expected > 0, got "
                             f"{self.limit_train_batches}.")


class _AppendingWriter(ExperimentWriter):
    """Lightning's CSV writer deletes an existing ``metrics.csv`` when it starts; a resumed run
    appends to it instead (Lightning widens the header for new columns and keeps old rows)."""

    def _check_log_dir_exists(self) -> None:
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as f:
                self.metrics_keys = next(csv.reader(f), [])


class _AppendingCSVLogger(CSVLogger):
    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment


def _existing_run(out_dir: Path) -> list[str]:
    return sorted(p.name for p in (out_dir / "checkpoints").glob("*.ckpt"))


def _valid_devices(text: str) -> bool:
    parts = [p.strip() for p in text.split(",")]
    if len(parts) > 1:
        return all(p.isdigit() for p in parts)
    return text in ("auto", "-1") or (text.isdigit() and int(text) >= 1)


def _devices(value: str) -> int | str:
    return int(value) if str(value).isdigit() else value


def fit(task: L.LightningModule, datamodule: L.LightningDataModule, cfg: TrainerConfig,
        out_dir: str | Path, *, resume: bool = False, seed: int = 5,
        callbacks: list | None = None) -> L.Trainer:
    """Train `task` and return the trainer; checkpoints go to `out_dir/checkpoints`.

    Args:
        resume: continue from `out_dir/checkpoints/last.ckpt` (error if it does not exist),
            appending to ``logs/metrics.csv``. Without it, a folder that holds checkpoints is
            refused (FileExistsError), never mixed with the new run's.
        callbacks: extra Lightning callbacks.
        seed: global seed (`lightning.seed_everything`), the seeds' default 5.

    Raises:
        FileNotFoundError: `resume` without a checkpoint to resume from.
        ValueError: `resume` from a checkpoint that cannot be read safely (corrupt, or
            holding pickled code).
        FileExistsError: not `resume`, and `out_dir` holds a run's checkpoints.
    """
    out_dir = Path(out_dir)
    last = out_dir / "checkpoints" / "last.ckpt"
    if resume and not last.is_file():
        raise FileNotFoundError(f"--resume: no checkpoint at {last}; run without --resume first.")
    if resume:
        read_checkpoint(last)  # refuses a corrupt or code-carrying file with one line
    if not resume and _existing_run(out_dir):
        # Lightning would write last-v1.ckpt beside the old run's last.ckpt, which evaluate,
        # export and --resume then take for this run's.
        raise FileExistsError(f"out: {out_dir} holds a training run "
                              f"({', '.join(_existing_run(out_dir)[:3])}); pass --resume to "
                              "continue it, or choose another output folder.")
    out_dir.mkdir(parents=True, exist_ok=True)
    L.seed_everything(seed, workers=True, verbose=False)
    limit = cfg.limit_train_batches
    trainer = L.Trainer(
        accelerator=cfg.accelerator, devices=_devices(cfg.devices), num_nodes=cfg.num_nodes,
        strategy=cfg.strategy, precision=cfg.precision, max_epochs=cfg.max_epochs,
        max_steps=cfg.max_steps,
        limit_train_batches=int(limit) if float(limit).is_integer() and limit > 1 else limit,
        accumulate_grad_batches=cfg.accumulate_grad_batches,
        log_every_n_steps=cfg.log_every_n_steps, default_root_dir=out_dir,
        check_val_every_n_epoch=cfg.check_val_every_n_epoch,
        num_sanity_val_steps=cfg.num_sanity_val_steps,
        logger=[(_AppendingCSVLogger if resume else CSVLogger)(out_dir, name="logs", version=""),
                TensorBoardLogger(out_dir, name="tb", version="")],
        callbacks=[ModelCheckpoint(dirpath=out_dir / "checkpoints", filename="{epoch}",
                                   save_last=True, save_top_k=1, every_n_epochs=1)]
        + ([TQDMProgressBar(refresh_rate=max(1, cfg.log_every_n_steps // 2))]
           if cfg.progress_bar else []) + list(callbacks or []),
        enable_progress_bar=cfg.progress_bar, enable_model_summary=False,
        use_distributed_sampler=False,  # our samplers are rank-aware (data.sampling)
        deterministic=False,
    )
    with warnings.catch_warnings():
        # Every task has TaskBase's validation_step; a run without validation data is normal.
        warnings.filterwarnings("ignore", message=".*`validation_step` but have no "
                                "`val_dataloader`")
        trainer.fit(task, datamodule=datamodule, ckpt_path=str(last) if resume else None)
    return trainer


@dataclass(frozen=True)
class TrainingRun:
    """What `train` made: the task (its trained modules), the trainer, and the checkpoint."""

    task: L.LightningModule
    trainer: L.Trainer
    last_checkpoint: Path


def train(cfg: Any, build: Callable[[Any], tuple[L.LightningModule, L.LightningDataModule]],
          out_dir: str | Path, *, resume: bool = False,
          callbacks: list | None = None) -> TrainingRun:
    """The run every training method shares: check the learning rate, seed every generator
    from ``cfg.seed`` (and ``cfg.threads`` where the config has it) *before* `build(cfg)` makes
    the task and its data module, so the initial weights depend on the seed only; then `fit`.

    Args:
        cfg: a method's config with ``seed``, ``optim.lr`` and ``trainer`` (`TrainerConfig`).
        build: cfg -> (task, data module).
        out_dir, resume, callbacks: as in `fit`.

    Raises:
        ValueError: a learning rate that is not a positive finite number; what `fit` raises.
    """
    lr = cfg.optim.lr
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"optim.lr: must be > 0, got {lr}.")
    seed_run(cfg.seed, getattr(cfg, "threads", 0))
    task, datamodule = build(cfg)
    trainer = fit(task, datamodule, cfg.trainer, out_dir, resume=resume, seed=cfg.seed,
                  callbacks=callbacks)
    return TrainingRun(task, trainer, Path(out_dir) / "checkpoints" / "last.ckpt")
