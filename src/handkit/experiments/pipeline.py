"""Stages of a synthetic-world experiment: world → mined pool → pre-train → fine-tune → evaluate.

`handkit demo` runs one path through them; `benchmarks/pretraining.py` runs every pre-training
method at equal compute. Each stage is resumable: it reuses its output when it exists (the
synthetic writers and the trainers resume themselves), so a killed run continues.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from handkit.data.synth.runner import synthesize
from handkit.mining.pairs import mine_annotations
from handkit.tasks.finetune import FinetuneConfig, finetune
from handkit.tasks.pretrain import PretrainConfig, pretrain
from handkit.utils.config import config_path, load_config

__all__ = ["WorldSpec", "World", "make_world", "mine_pool", "PretrainSpec", "pretrain_variant",
           "FinetuneSpec", "finetune_variant", "finished_epochs", "VARIANTS"]

VARIANTS: dict[str, tuple[str | None, str]] = {
    # name: (pre-training method or None, weighting)
    "none": (None, "none"),
    "simclr": ("simclr", "none"),
    "peclr": ("peclr", "none"),
    "simhand": ("simhand", "none"),
    "simhand_w": ("simhand", "linear"),
}


@dataclass
class WorldSpec:
    """Sizes of the synthetic world (images).

    Attributes:
        labeled: FreiHAND-layout training images (the fine-tuning budget is a fraction of it).
        test: held-out FreiHAND-layout images, drawn with a different seed.
        pool: unlabeled Hand100M-layout crops (from many "videos") for pre-training.
        k: mined positives per crop.
        test_appearance: look of the test set (`data.synth.appearance.DOMAINS`; "shifted"
            makes it unlike the labeled set and the pool).
    """

    labeled: int = 1000
    test: int = 300
    pool: int = 2000
    k: int = 5
    seed: int = 0
    workers: int = 2
    test_appearance: str = "default"


@dataclass
class World:
    labeled: Path
    test: Path
    pool_json: Path


def make_world(spec: WorldSpec, root: str | Path, *, progress: bool = True) -> World:
    """Synthesize the labeled, test and pool sets under `root` (resumes existing output)."""
    root = Path(root)
    labeled = synthesize("freihand", root / "labeled", spec.labeled, seed=spec.seed,
                         workers=spec.workers, progress=progress,
                         preview=root / "labeled_preview.png")
    test = synthesize("freihand", root / "test", spec.test, seed=spec.seed + 1000,
                      workers=spec.workers, progress=progress, appearance=spec.test_appearance)
    pool = synthesize("hand100m", root / "pool", spec.pool, seed=spec.seed + 2000,
                      workers=spec.workers, progress=progress)
    files = sorted((pool / "annotations").glob("*/Hand100M_*_v1-1.json"))
    if not files:
        raise ValueError(f"{pool}: the Hand100M writer produced no annotation file.")
    return World(labeled=labeled, test=test, pool_json=files[0])


def mine_pool(world: World, k: int, *, progress: bool = True) -> Path:
    """Mine top-k similar hands from other videos; returns the mined annotation file."""
    out = world.pool_json.with_name("mined.json")
    if not out.is_file():
        mine_annotations(world.pool_json, out, k=k, progress=progress)
    return out


@dataclass
class PretrainSpec:
    """Equal compute for every method: the same encoder, views, batch and number of steps.
    `overrides`: typed config values on top of the config file (e.g.
    ``{"data.num_workers": 0}``); the spec's own fields are applied after them."""

    encoder: str = "resnet18"
    view_size: int = 64
    batch_size: int = 64
    steps: int = 200
    epochs: int = 2
    seed: int = 0
    threads: int = 0
    overrides: dict[str, Any] = field(default_factory=dict)


def pretrain_variant(variant: str, world: World, mined_json: Path, out: str | Path,
                     spec: PretrainSpec, *, progress: bool = True) -> Path | None:
    """Pre-train one `VARIANTS` entry on the pool; returns its encoder file (None for "none")."""
    method, weighting = VARIANTS[variant]
    if method is None:
        return None
    out = Path(out)
    encoder = out / "encoder_torchvision.pth"
    if encoder.is_file():
        return encoder
    per_epoch = max(1, spec.steps // spec.epochs)
    # SimCLR/PeCLR see the same crops as SiMHand, each paired with itself.
    cfg = load_config(PretrainConfig, config_path("pretrain/cpu_simhand_w"), values={
        **spec.overrides, "method": method, "loss.weighting": weighting, "encoder": spec.encoder,
        "augment.output_size": (spec.view_size, spec.view_size),
        "data.batch_size": spec.batch_size, "data.samples_per_epoch": per_epoch * spec.batch_size,
        "data.sources": [{"root": str(mined_json), "format": "auto"}],
        "trainer.max_epochs": spec.epochs, "trainer.progress_bar": progress, "seed": spec.seed,
        "optim.warmup_epochs": 0})
    resume = (out / "checkpoints" / "last.ckpt").is_file()
    if spec.threads:
        import torch
        torch.set_num_threads(spec.threads)
    return pretrain(cfg, out, resume=resume)


@dataclass
class FinetuneSpec:
    """`overrides`: typed config values on top of the config file (e.g.
    ``{"data.num_workers": 0}``); the spec's own fields are applied after them."""

    label_fraction: float = 1.0
    epochs: int = 10
    seed: int = 0
    threads: int = 0
    overrides: dict[str, Any] = field(default_factory=dict)


def finetune_variant(world: World, init: Path | None, out: str | Path, spec: FinetuneSpec,
                     *, config: str = "cpu_rn25d.yaml", progress: bool = True) -> Path:
    """Fine-tune RN_25D_wMLPref on `label_fraction` of the labeled set; returns the checkpoint."""
    out = Path(out)
    last = out / "checkpoints" / "last.ckpt"
    cfg = load_config(FinetuneConfig, config_path(config, "finetune"), values={
        **spec.overrides, "data.label_fraction": spec.label_fraction,
        "trainer.max_epochs": spec.epochs,
        "seed": spec.seed, "data.subset_seed": spec.seed, "threads": spec.threads,
        "trainer.progress_bar": progress, "data.root": str(world.labeled),
        "init": str(init) if init else None})
    if last.is_file():
        done = finished_epochs(out)
        if done >= spec.epochs:
            return last
    return finetune(cfg, out, resume=last.is_file())


def finished_epochs(out: str | Path) -> int:
    """Epochs a run in `out` has finished, from its newest `epoch=E.ckpt` (E counts from 0)."""
    epochs = [int(p.stem.split("=")[1]) for p in (Path(out) / "checkpoints").glob("epoch=*.ckpt")]
    return max(epochs) + 1 if epochs else 0

