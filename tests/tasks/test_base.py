"""TaskBase: per-purpose random streams, bad-sample accounting, validation logging, and a resume
that restores every random stream (a resumed run ends with the uninterrupted run's weights)."""

from __future__ import annotations

import csv
import hashlib
import random
from dataclasses import dataclass, field

import lightning as L
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from handkit.data.hands import collate_items
from handkit.tasks.base import BAD_KEY, RNG_KEY, TaskBase, stream_seed
from handkit.tasks.runner import TrainerConfig, fit


def test_the_augment_stream_keeps_the_key_of_earlier_runs():
    """Runs before TaskBase seeded augmentation with blake2b("seed/step/rank") >> 1."""
    legacy = int.from_bytes(hashlib.blake2b(b"5/7/1", digest_size=8).digest(), "little") >> 1
    assert stream_seed(5, 7, 1, "augment") == legacy
    seeds = {stream_seed(5, 7, 1, p) for p in ("augment", "mask", "noise")}
    seeds |= {stream_seed(5, 8, 1, "augment"), stream_seed(5, 7, 0, "augment"),
              stream_seed(6, 7, 1, "augment")}
    assert len(seeds) == 6  # purpose, step, rank and seed each give another stream
    assert all(0 <= s < 2 ** 63 for s in seeds)


@dataclass
class _Cfg:
    seed: int = 3
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(
        accelerator="cpu", devices="1", max_epochs=2, progress_bar=False, log_every_n_steps=1))


class _Toy(TaskBase):
    """y = w·x fitted by SGD; every step also draws from each global generator and from its own
    "noise" stream, so a resume that loses any of them ends elsewhere."""

    def __init__(self, cfg: _Cfg):
        super().__init__(cfg, "toy")
        self.w = torch.nn.Parameter(torch.zeros(3))

    def training_step(self, batch, batch_idx):
        self.count_bad(batch["bad"])
        if "x" not in batch:
            return None
        jitter = (torch.rand(()) + np.random.rand() + random.random()
                  + torch.rand((), generator=self.generator("noise")))
        loss = ((batch["x"] @ self.w - batch["y"]) ** 2).mean() * (1 + 0.1 * jitter)
        self.log_bad(len(batch["x"]))
        return loss

    def validation_metrics(self, batch):
        return {"mae": (batch["x"] @ self.w - batch["y"]).abs().mean()}

    def configure_optimizers(self):
        return self.warmup_cosine(torch.optim.SGD(self.parameters(), lr=0.1), 2)


def _items(n: int, bad: dict[int, str]) -> list[dict]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5])
    return [{"bad": bad[i]} if i in bad else {"x": x[i], "y": y[i]} for i in range(n)]


class _Data(L.LightningDataModule):
    """Shuffled with a generator kept in the checkpoint (as `FinetuneDataModule`)."""

    def __init__(self, items: list[dict]):
        super().__init__()
        self.items, self.shuffle = items, torch.Generator().manual_seed(1)

    def train_dataloader(self):
        return DataLoader(self.items, batch_size=4, shuffle=True, generator=self.shuffle,
                          collate_fn=collate_items)

    def state_dict(self):
        return {"shuffle": self.shuffle.get_state()}

    def load_state_dict(self, state):
        self.shuffle.set_state(state["shuffle"])


class _ValidatedData(_Data):
    def val_dataloader(self):
        return DataLoader(self.items, batch_size=4, collate_fn=collate_items)


def _run(out, items, *, resume=False, stop=None, validate=False) -> _Toy:
    """Train the toy from seed 0; `stop`: a callback ending the run after epoch 0."""
    L.seed_everything(0, verbose=False)
    task = _Toy(_Cfg())
    data = (_ValidatedData if validate else _Data)(items)
    fit(task, data, task.cfg.trainer, out, resume=resume, seed=task.cfg.seed,
        callbacks=[stop] if stop else [])
    return task


def test_a_resumed_run_draws_every_stream_as_the_uninterrupted_one(tmp_path,
                                                                   stop_after_first_epoch):
    items = _items(16, {})
    straight = _run(tmp_path / "a", items).w.detach().clone()
    stopped = _run(tmp_path / "b", items, stop=stop_after_first_epoch).w.detach().clone()
    resumed = _run(tmp_path / "b", items, resume=True).w.detach()
    assert not torch.equal(stopped, straight)  # the stop did lose epoch 1
    torch.testing.assert_close(resumed, straight, rtol=0, atol=0)
    ckpt = torch.load(tmp_path / "b" / "checkpoints" / "last.ckpt", weights_only=True)
    assert {"torch", "numpy", "python"} <= set(ckpt[RNG_KEY])


def test_a_resume_that_lost_the_global_streams_would_differ(tmp_path, monkeypatch,
                                                           stop_after_first_epoch):
    """The check above can fail: without restoring the global states the weights differ."""
    items = _items(16, {})
    straight = _run(tmp_path / "a", items).w.detach().clone()
    _run(tmp_path / "b", items, stop=stop_after_first_epoch)
    monkeypatch.setattr("handkit.tasks.base._set_global_rng_states", lambda states: None)
    resumed = _run(tmp_path / "b", items, resume=True).w.detach()
    assert not torch.equal(resumed, straight)


def test_bad_samples_are_counted_with_reasons_logged_and_summarised(tmp_path, capsys,
                                                                   stop_after_first_epoch):
    bad = {1: "SampleError: a: no 3D", 5: "SampleError: a: no 3D", 9: "OSError: b.jpg"}
    items = _items(12, bad)
    task = _run(tmp_path, items, stop=stop_after_first_epoch)  # one epoch: each item seen once
    assert task.bad_count == 3
    assert task.bad_reasons == {"SampleError: a: no 3D": 2, "OSError: b.jpg": 1}
    summary = capsys.readouterr().out
    assert "toy: skipped 3 bad samples (2x SampleError: a: no 3D; 1x OSError: b.jpg)" in summary
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt[BAD_KEY] == {"count": 3, "reasons": dict(task.bad_reasons)}
    with open(tmp_path / "logs" / "metrics.csv") as f:
        logged = [float(r["train/skipped"]) for r in csv.DictReader(f) if r["train/skipped"]]
    assert logged[-1] == 3 and logged == sorted(logged)
    # resumed, the tally continues from the checkpoint (epoch 2 sees the 3 bad items again)
    assert _run(tmp_path, items, resume=True).bad_count == 6


def test_bad_reasons_are_capped_but_all_counted():
    task = _Toy(_Cfg())
    task.count_bad([f"reason {i}" for i in range(1005)])
    assert task.bad_count == 1005 and len(task.bad_reasons) == 1001
    assert task.bad_reasons["(other reasons)"] == 5
    assert task.bad_summary(top=2).endswith("; and 999 other reasons)")
    assert _Toy(_Cfg()).bad_summary() == ""


def test_validation_step_logs_the_task_metrics(tmp_path, stop_after_first_epoch):
    task = _run(tmp_path, _items(8, {3: "bad"}), stop=stop_after_first_epoch, validate=True)
    with open(tmp_path / "logs" / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r.get("val/mae")]
    assert len(rows) == 1
    x = torch.stack([it["x"] for it in _items(8, {3: "bad"}) if "x" in it])
    y = x @ torch.tensor([1.0, -2.0, 0.5])
    # the epoch value is the sample-weighted mean over the two validation batches (3 + 4 good)
    expected = float((x @ task.w.detach() - y).abs().mean())
    assert float(rows[0]["val/mae"]) == pytest.approx(expected, rel=1e-5)
