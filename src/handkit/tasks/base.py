"""What every Lightning task shares: seeding, random streams, bad samples, schedule, validation,
resume.

A method's task subclasses `TaskBase` and writes only its own data flow (`training_step`,
`validation_metrics`, `configure_optimizers` using `warmup_cosine`):

- **Random streams.** `generator(purpose)` is a `torch.Generator` seeded from
  (cfg.seed, global_step, global_rank, purpose): a pure function of the step, so a resumed run
  draws the same numbers as an uninterrupted one, every rank draws its own, and two purposes
  (say augmentation and masking) never share a stream. `on_save_checkpoint` also stores the
  global torch / CUDA / numpy / Python states (`RNG_KEY`) and `on_load_checkpoint` restores
  them, so code that draws from them resumes exactly as well.
- **Bad samples.** Loaders return ``{"bad": reason}`` for a sample that cannot be used and
  `data.hands.collate_items` lists the reasons in ``batch["bad"]``; `count_bad` adds them to a
  count and a per-reason tally (kept in the checkpoint), logged as ``train/skipped`` and summarised
  at the end of the run (`bad_summary`).
- **Schedule.** `warmup_cosine(optimizer, warmup_steps)`: linear warm-up then cosine decay per
  optimiser step (`tasks.optim.warmup_cosine_factor`, pl_bolts' closed form).
- **Validation.** `validation_step` counts the batch's bad samples and logs every entry of
  `validation_metrics(batch)` as ``val/<name>``.
"""

from __future__ import annotations

import hashlib
import numbers
import random
from collections import Counter
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import Tensor

from handkit.tasks.optim import warmup_cosine_factor
from handkit.utils.config import config_to_dict

__all__ = ["TaskBase", "seed_run", "resumable_loader", "stream_seed", "RNG_KEY", "BAD_KEY"]

RNG_KEY = "handkit_rng"   # checkpoint entry: the global random states
BAD_KEY = "handkit_bad"   # checkpoint entry: the bad-sample count and tally
_MAX_REASONS = 1000       # distinct reasons kept; more are counted under "(other reasons)"
_OTHER = "(other reasons)"


def stream_seed(seed: int, step: int, rank: int, purpose: str) -> int:
    """A 63-bit seed from (seed, step, rank, purpose) via BLAKE2b.

    The "augment" stream keeps the key the tasks used before streams had purposes
    (``"seed/step/rank"``), so runs made before and after this module draw the same
    augmentations.
    """
    key = f"{seed}/{step}/{rank}" if purpose == "augment" else f"{seed}/{step}/{rank}/{purpose}"
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little") >> 1


class _EpochAtIteration(torch.utils.data.Sampler):
    """`sampler` with its epoch set from the trainer's progress each time an iteration starts."""

    def __init__(self, sampler: Any, trainer: Any):
        self.sampler, self.trainer = sampler, trainer

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self):
        # Lightning starts a resumed run's first iterator before it restores its loop counters.
        resumed = getattr(self.trainer.lightning_module, "resume_epoch", 0)
        self.sampler.set_epoch(max(self.trainer.fit_loop.epoch_progress.current.processed,
                                   resumed))
        return iter(self.sampler)


def resumable_loader(dataset: Any, *, batch_size: int, num_workers: int, collate_fn: Any,
                     trainer: Any = None, **options: Any) -> torch.utils.data.DataLoader:
    """A `DataLoader` that draws the same random numbers in every epoch of a run and of its
    resumption, with any number of workers; `options` go to `DataLoader` (sampler, shuffle,
    generator, drop_last).

    - Workers are not persistent: a persistent pool draws its base seed once, in the first
      epoch, so a run resumed at epoch e would draw one seed more than the uninterrupted run
      (from the loader's generator or torch's global one) and diverge. Starting workers each
      epoch costs well under a second with fork.
    - An epoch-keyed sampler (`set_epoch`) reads the epoch when an epoch's iterator starts,
      from `trainer` (the number Lightning itself passes to `set_epoch`, or for a resumed run's
      first epoch `TaskBase.resume_epoch`): Lightning starts that iterator before it restores
      its loop counters and calls `set_epoch`, and with workers the iterator fetches indices at
      once, so a run resumed at epoch e would replay epoch 0's draw.
    """
    # Every task's loaders come from here: the one check of the config's loader values
    # (torch's own message names neither the config key nor the task).
    if not (isinstance(batch_size, numbers.Integral) and batch_size >= 1):
        raise ValueError(f"data.batch_size: expected an integer >= 1, got {batch_size!r}.")
    if not (isinstance(num_workers, numbers.Integral) and num_workers >= 0):
        raise ValueError(f"data.num_workers: expected an integer >= 0, got {num_workers!r}.")
    sampler = options.get("sampler")
    if trainer is not None and hasattr(sampler, "set_epoch"):
        options["sampler"] = _EpochAtIteration(sampler, trainer)
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=collate_fn,
        persistent_workers=False, pin_memory=torch.cuda.is_available(), **options)


def seed_run(seed: int, threads: int = 0) -> None:
    """Seed every global generator (`lightning.seed_everything`, workers too) before a model is
    built, so its initial weights depend on `seed` only; `threads` > 0 sets
    `torch.set_num_threads` (on a shared CPU one thread per process is often fastest)."""
    if threads > 0:
        torch.set_num_threads(threads)
    L.seed_everything(seed, workers=True, verbose=False)


def _global_rng_states() -> dict:
    """The global random states as checkpoint-safe data (tensors, ints, tuples)."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    states = {"torch": torch.get_rng_state(), "python": random.getstate(),
              "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)),
                        "pos": int(pos), "has_gauss": int(has_gauss), "gauss": float(gauss)}}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _set_global_rng_states(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    n = states["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["gauss"]))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


class TaskBase(L.LightningModule):
    """A Lightning task over a config dataclass with a `seed` field.

    Args:
        cfg: the experiment config; stored as plain data in the checkpoint's hyper-parameters
            (``hyper_parameters.config``), which is what `models.checkpoint` reads back.
        name: the task's name in messages ("finetune").

    Attributes:
        bad_count: samples skipped so far (this rank).
        bad_reasons: `Counter` reason → count (at most 1000 distinct reasons).
    """

    def __init__(self, cfg: Any, name: str):
        super().__init__()
        self.cfg, self.task_name = cfg, name
        self.save_hyperparameters({"config": config_to_dict(cfg)})
        self.bad_count = 0
        self.bad_reasons: Counter[str] = Counter()
        self.resume_epoch = 0  # set from the checkpoint by on_load_checkpoint

    # -- random streams ----------------------------------------------------------------------
    def generator(self, purpose: str = "augment") -> torch.Generator:
        """A fresh generator on the task's device for this step, rank and `purpose`."""
        seed = stream_seed(self.cfg.seed, self.global_step, self.global_rank, purpose)
        return torch.Generator(device=self.device).manual_seed(seed)

    # -- bad samples -------------------------------------------------------------------------
    def count_bad(self, reasons: list[str]) -> None:
        """Add a batch's bad-sample reasons (``batch["bad"]``) to the count and the tally."""
        for reason in reasons:
            key = reason if reason in self.bad_reasons or len(self.bad_reasons) < _MAX_REASONS \
                else _OTHER
            self.bad_reasons[key] += 1
        self.bad_count += len(reasons)

    def bad_summary(self, top: int = 5) -> str:
        """One line: the count and the `top` most frequent reasons ("" when none)."""
        if not self.bad_count:
            return ""
        common = "; ".join(f"{n}x {r}" for r, n in self.bad_reasons.most_common(top))
        more = len(self.bad_reasons) - top
        return (f"{self.task_name}: skipped {self.bad_count} bad samples ({common}"
                f"{f'; and {more} other reasons' if more > 0 else ''})")

    def log_bad(self, batch_size: int) -> None:
        """Log the running count as ``train/skipped`` (call once per training step)."""
        self.log("train/skipped", float(self.bad_count), batch_size=max(1, batch_size))

    def on_train_end(self) -> None:
        summary = self.bad_summary()
        if summary:
            print(summary)

    # -- training ----------------------------------------------------------------------------
    def losses(self, batch: dict) -> dict[str, Tensor]:
        """The loss terms of one good batch, with the total under "loss" (override per task;
        the default `training_step` calls it)."""
        raise NotImplementedError(f"{type(self).__name__}: no losses(batch); override it or "
                                  "training_step.")

    def training_step(self, batch: dict, batch_idx: int) -> Tensor | None:
        """Count the batch's bad samples, skip a batch without good ones, log every term of
        `losses(batch)` as ``train/<name>`` and return ``"loss"``."""
        self.count_bad(batch.get("bad", []))
        if "image" not in batch:
            return None  # every sample of this batch was bad; counted above
        terms = self.losses(batch)
        n = batch["image"].shape[0]
        for name, value in terms.items():
            self.log(f"train/{name}", value, prog_bar=name == "loss", batch_size=n)
        self.log_bad(n)
        return terms["loss"]

    # -- schedule ----------------------------------------------------------------------------
    def steps_per_epoch(self) -> int:
        """Optimiser steps per epoch, from the trainer's estimate (at least 1)."""
        return max(1, int(self.trainer.estimated_stepping_batches)
                   // max(1, self.trainer.max_epochs))

    def warmup_cosine(self, optimizer: torch.optim.Optimizer, warmup_steps: int) -> dict:
        """`configure_optimizers`' return value: `optimizer` with linear warm-up over
        `warmup_steps` then cosine decay to 0 at the trainer's last step, stepped per
        optimiser step."""
        total = max(1, int(self.trainer.estimated_stepping_batches))
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: warmup_cosine_factor(step, warmup_steps, total))
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    # -- validation --------------------------------------------------------------------------
    def validation_metrics(self, batch: dict) -> dict[str, Tensor]:
        """Scalar metrics of one validation batch (only good samples; override per task)."""
        raise NotImplementedError(f"{type(self).__name__}: no validation_metrics; the task "
                                  "does not validate.")

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self.count_bad(list(batch.get("bad", [])))
        n = _batch_size(batch)
        if n == 0:
            return  # every sample was bad; counted above
        for name, value in self.validation_metrics(batch).items():
            self.log(f"val/{name}", value, batch_size=n, sync_dist=True,
                     prog_bar=name == "loss")

    # -- resume ------------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint[RNG_KEY] = _global_rng_states()
        checkpoint[BAD_KEY] = {"count": self.bad_count, "reasons": dict(self.bad_reasons)}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if RNG_KEY in checkpoint:   # checkpoints written before TaskBase have none
            _set_global_rng_states(checkpoint[RNG_KEY])
        bad = checkpoint.get(BAD_KEY, {})
        self.bad_count = int(bad.get("count", 0))
        self.bad_reasons = Counter(bad.get("reasons", {}))
        # The epoch Lightning resumes at (what it will pass to set_epoch), known before its
        # loops are restored: `resumable_loader`'s samplers need it for their first iterator.
        progress = checkpoint.get("loops", {}).get("fit_loop", {}).get("epoch_progress", {})
        self.resume_epoch = int(progress.get("current", {}).get("processed", 0))


def _batch_size(batch: dict) -> int:
    """Good samples in a collated batch: the leading size of its first tensor (0 if none)."""
    return next((int(v.shape[0]) for v in batch.values() if isinstance(v, Tensor)), 0)
