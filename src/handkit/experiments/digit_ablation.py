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

__all__ = ["DigitAblation", "VARIANTS", "SCORES", "run_name", "run_variant", "run_ablation",
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
        seeds: training seeds; every variant is trained once per seed (run ``<variant>`` for
            seed 1, ``<variant>_seed<s>`` otherwise) and the table gives each run and the mean.
        depth_bins: the joints' relative-depth bins; None = ``image_size // 4``, the heat-map
            side, the ratio of the official 64 bins at 256 px (`models.digit.digit`).
        backbone, init: the stride-4 encoder and an optional weights file for it (the same for
            every variant; e.g. ``resnet18_s4`` and the shipped ``rn25d_r18_synth.pt``).
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
    seeds: tuple[int, ...] = (1,)
    depth_bins: int | None = None
    backbone: str = "stem4"
    init: str | None = None
    config: str = "digit/cpu_synth"
    overrides: list[str] = field(default_factory=list)


def variant_config(name: str, exp: DigitAblation, root: Path, seed: int = 1) -> DigitConfig:
    """`exp.config` with the world, the sizes, the encoder, the training `seed` and
    ``model.options.segmentation = name``."""
    cfg = load_config(DigitConfig, config_path(exp.config, "digit"), exp.overrides)
    bins = exp.depth_bins or exp.image_size // 4
    options = {**cfg.model.options, "segmentation": name, "depth_bins": bins}
    return replace_config(cfg, {
        "data.root": str(root), "data.batch_size": exp.batch_size, "seed": seed,
        "model.image_size": exp.image_size, "model.options": options,
        "model.backbone": exp.backbone, "init": exp.init,
        "optim.lr": exp.lr, "optim.milestones": [max(1, int(exp.epochs * 0.8))],
        "trainer.max_epochs": exp.epochs, "trainer.progress_bar": False,
        "trainer.check_val_every_n_epoch": exp.val_every, "trainer.num_sanity_val_steps": 0})


def run_name(name: str, seed: int) -> str:
    """``<variant>`` for seed 1 (the official seed), ``<variant>_seed<seed>`` otherwise."""
    return name if seed == 1 else f"{name}_seed{seed}"


def run_variant(name: str, exp: DigitAblation, root: Path, out: Path, seed: int = 1) -> Path:
    """Train one variant with one seed into ``out/<run_name>`` (skipped when its
    ``last.ckpt`` exists); returns the checkpoint."""
    run = run_name(name, seed)
    last = out / run / "checkpoints" / "last.ckpt"
    if last.is_file():
        return last
    return train_digit(variant_config(name, exp, root, seed), out / run)


def _scores(report: dict) -> dict:
    keep = (*SCORES, "frames", "frames_sh", "frames_ih", "frames_mrrpe", "mpjpe_all_no_wrist")
    return {k: report[k] for k in keep}


def run_ablation(exp: DigitAblation, out: str | Path, variants: tuple[str, ...] = VARIANTS,
                 threads: int = 2) -> dict:
    """The world, the variants' training and test scores, and the mean-pose reference.

    Returns:
        {run: {SCORES..., "frames", ..., "train_s", "variant", "seed"} for every variant and
        seed (`run_name`), "mean_pose": {SCORES...}, "setup": {...}}; MPJPE and MRRPE in mm
        (evaluate_interhand's, GT root depths).
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
    for seed in exp.seeds:
        for name in variants:
            t0 = time.perf_counter()
            ckpt = run_variant(name, exp, root, out, seed)
            train_s = time.perf_counter() - t0
            results[run_name(name, seed)] = {
                **_scores(evaluate_interhand(ckpt, root, split="test")), "train_s": train_s,
                "variant": name, "seed": seed}
    mean = MeanPose.fit(root, "train", image_size=exp.image_size,
                        depth_bins=exp.depth_bins or exp.image_size // 4)
    results["mean_pose"] = _scores(evaluate_interhand(mean, root, split="test"))
    return results


def table_lines(results: dict) -> list[str]:
    """A markdown table of every run (variant, seed), each variant's mean over its seeds when
    it has several, and the mean-pose reference (mm), with whether each row beats the
    reference on MPJPE all."""
    ref = results["mean_pose"]
    lines = ["| variant | seed | MPJPE single | MPJPE interacting | MPJPE all | MRRPE | "
             "handedness | beats mean pose (all) | training min |",
             "|---|---|---:|---:|---:|---:|---:|---|---:|"]

    def row(label: str, seed: str, r: dict) -> str:
        gap = ref["mpjpe_all"] - r["mpjpe_all"]
        beats = f"yes, by {gap:.1f} mm" if gap > 0 else "no"
        return (f"| {label} | {seed} | {r['mpjpe_sh']:.2f} | {r['mpjpe_ih']:.2f} | "
                f"{r['mpjpe_all']:.2f} | {r['mrrpe']:.2f} | {r['handedness_acc']:.3f} | "
                f"{beats} | {r['train_s'] / 60:.1f} |")

    for name in VARIANTS:
        runs = sorted((r for k, r in results.items() if isinstance(r, dict)
                       and r.get("variant", k) == name and k not in ("setup", "mean_pose")),
                      key=lambda r: r.get("seed", 1))
        for r in runs:
            lines.append(row(name, str(r.get("seed", 1)), r))
        if len(runs) > 1:
            mean = {k: sum(r[k] for r in runs) / len(runs) for k in (*SCORES, "train_s")}
            lines.append(row(f"**{name}, mean**", f"{len(runs)} seeds", mean))
    lines.append(f"| mean pose (reference) | | {ref['mpjpe_sh']:.2f} | {ref['mpjpe_ih']:.2f} | "
                 f"{ref['mpjpe_all']:.2f} | {ref['mrrpe']:.2f} | {ref['handedness_acc']:.3f} | "
                 "| |")
    return lines
