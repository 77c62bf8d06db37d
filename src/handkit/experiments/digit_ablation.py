"""DIGIT's central ablation on the synthetic world (issue 17 item 8, docs/digit.md): the same
small DIGIT trained with the segmentation branch fused into the pose path (``fused``, DIGIT),
with the branch trained beside a pose path that never sees it (``auxiliary``), and without it
(``none``), scored by `infer.evaluate_digit.evaluate_interhand` (MPJPE single / interacting /
all with the official averaging, MRRPE, handedness) beside the mean-pose reference
(`MeanPose`: the training split's mean 2.5D joints, relative root depth and handedness for
every frame, lifted like a prediction).

One `handkit synth interhand` world (its last 10 % is ``test``, the 10 % before it ``val``;
`data.synth.writers.interhand_split`) serves every variant, same seed, same crops. Every stage
reuses its output when it exists (the world, each variant's ``last.ckpt``), so an interrupted
run resumes; the scores are recomputed each time (a forward pass over the test split).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from handkit.data.synth.runner import synthesize
from handkit.infer.evaluate_digit import MeanPose, evaluate_interhand
from handkit.tasks.digit import DigitConfig, train_digit
from handkit.utils.config import config_path, load_config, replace_config

__all__ = ["DigitAblation", "VARIANTS", "SCORES", "run_variant", "run_ablation",
           "table_lines"]

VARIANTS = ("fused", "auxiliary", "none")
SCORES = ("mpjpe_sh", "mpjpe_ih", "mpjpe_all", "mrrpe", "handedness_acc")


@dataclass
class DigitAblation:
    """Sizes and settings of the ablation.

    Attributes:
        n: images of the world (80 % train, 10 % val, 10 % test). world_size: their side, px
            (`handkit synth interhand --size`, >= 128). image_size: DIGIT's crop side, px (a
            multiple of 32). epochs, batch_size, lr: training length and optimiser (the LR
            drops ×0.1 at 80 % of the epochs, as ``digit/cpu_synth``). seed: the world's seed
            (training uses the config's seed 1). val_every: validation interval in epochs
            (the validation split only logs; the scores are the test split's).
        config: the packaged config every variant starts from. overrides: ``--set`` style
            ``key=value`` strings applied to every variant.
    """

    n: int = 2000
    world_size: int = 128
    image_size: int = 64
    epochs: int = 10
    batch_size: int = 16
    lr: float = 1e-3
    seed: int = 0
    val_every: int = 1000
    config: str = "digit/cpu_synth"
    overrides: list[str] = field(default_factory=list)


def variant_config(name: str, exp: DigitAblation, root: Path) -> DigitConfig:
    """`exp.config` with the world, the sizes and ``model.options.segmentation = name``."""
    cfg = load_config(DigitConfig, config_path(exp.config, "digit"), exp.overrides)
    options = {**cfg.model.options, "segmentation": name}
    return replace_config(cfg, {
        "data.root": str(root), "data.batch_size": exp.batch_size,
        "model.image_size": exp.image_size, "model.options": options,
        "optim.lr": exp.lr, "optim.milestones": [max(1, int(exp.epochs * 0.8))],
        "trainer.max_epochs": exp.epochs, "trainer.progress_bar": False,
        "trainer.check_val_every_n_epoch": exp.val_every, "trainer.num_sanity_val_steps": 0})


def run_variant(name: str, exp: DigitAblation, root: Path, out: Path) -> Path:
    """Train one variant into ``out/<name>`` (skipped when its ``last.ckpt`` exists); returns
    the checkpoint."""
    last = out / name / "checkpoints" / "last.ckpt"
    if last.is_file():
        return last
    return train_digit(variant_config(name, exp, root), out / name)


def _scores(report: dict) -> dict:
    keep = (*SCORES, "frames", "frames_sh", "frames_ih", "frames_mrrpe", "mpjpe_all_no_wrist")
    return {k: report[k] for k in keep}


def run_ablation(exp: DigitAblation, out: str | Path, variants: tuple[str, ...] = VARIANTS,
                 threads: int = 2) -> dict:
    """The world, the variants' training and test scores, and the mean-pose reference.

    Returns:
        {variant: {SCORES..., "frames", ..., "train_s"}, "mean_pose": {SCORES...},
        "setup": {...}}; MPJPE and MRRPE in mm (evaluate_interhand's, GT root depths).
    """
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"variants: {unknown} not in {VARIANTS}.")
    torch.set_num_threads(threads)
    out = Path(out)
    t0 = time.perf_counter()
    root = synthesize("interhand", out / "world", exp.n, seed=exp.seed, size=exp.world_size,
                      progress=False)
    results: dict = {"setup": {**exp.__dict__}, "world_s": time.perf_counter() - t0}
    for name in variants:
        t0 = time.perf_counter()
        ckpt = run_variant(name, exp, root, out)
        train_s = time.perf_counter() - t0
        results[name] = {**_scores(evaluate_interhand(ckpt, root, split="test")),
                         "train_s": train_s}
    mean = MeanPose.fit(root, "train", image_size=exp.image_size)
    results["mean_pose"] = _scores(evaluate_interhand(mean, root, split="test"))
    return results


def table_lines(results: dict) -> list[str]:
    """A markdown table of the variants and the mean-pose reference (mm), with whether each
    variant beats the reference on MPJPE all."""
    ref = results["mean_pose"]
    lines = ["| variant | MPJPE single | MPJPE interacting | MPJPE all | MRRPE | handedness | "
             "beats mean pose (all) | training min |",
             "|---|---:|---:|---:|---:|---:|---|---:|"]
    for name in [v for v in VARIANTS if v in results]:
        r = results[name]
        lines.append(f"| {name} | {r['mpjpe_sh']:.2f} | {r['mpjpe_ih']:.2f} | "
                     f"{r['mpjpe_all']:.2f} | {r['mrrpe']:.2f} | {r['handedness_acc']:.3f} | "
                     f"{'yes' if r['mpjpe_all'] < ref['mpjpe_all'] else 'no'} | "
                     f"{r['train_s'] / 60:.1f} |")
    lines.append(f"| mean pose (reference) | {ref['mpjpe_sh']:.2f} | {ref['mpjpe_ih']:.2f} | "
                 f"{ref['mpjpe_all']:.2f} | {ref['mrrpe']:.2f} | {ref['handedness_acc']:.3f} | "
                 "| |")
    return lines
