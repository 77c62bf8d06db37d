"""S2HAND's claim on the synthetic world (issue 15 item 7): trained from noisy 2D detections vs
the same network from true 2D labels, evaluated in 3D on a held-out, differently-looking test
set, with the mean-pose reference, and the ablation of the photometric terms.

Variants (all SSL-e2e at the CPU twin's sizes unless said):

- ``noisy``: detections = labels + N(0, σ²) px with a fraction of joints dropped (a detector);
- ``clean``: the true 2D labels;
- ``noisy_no_photo``: ``noisy`` without the photometric/texture terms (texture, mrgb, mtex);
- ``mean_pose``: no network: every test hand gets the training set's mean wrist-relative pose
  (PA-MPJPE aligns rotation, translation and scale, so this is the floor any model must beat);
- ``fit_noisy`` / ``fit_clean`` (references, no network): S2HAND's test-time refinement
  (`fit_hand`, 151 iterations from its own initial guess) on each test image's noisy or true
  2D keypoints: how much 3D the hand model recovers from 2D alone.

The test set is drawn with another seed and the ``shifted`` appearance (darker skin, coloured
light, photo backgrounds, more occluders). Every stage reuses its output when it exists.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from handkit.data.formats import open_dataset
from handkit.data.s2hand import S2HandDataConfig, S2HandItems
from handkit.data.synth.runner import synthesize
from handkit.eval.metrics import pa_mpjpe, procrustes_mean
from handkit.models.checkpoint import load_model
from handkit.models.s2hand import S2HandHand
from handkit.models.s2hand_fit import FIT_SCHEDULE, fit_hand
from handkit.tasks.s2hand import S2HandConfig, train_s2hand
from handkit.utils.config import config_path, load_config, replace_config

__all__ = ["SynthExperiment", "VARIANTS", "mean_pose_pa_mpjpe", "fit_pa_mpjpe",
           "inplane_angle_error", "whole_image_scores", "run_variant", "run_experiment"]

VARIANTS = ("noisy", "clean", "noisy_no_photo")
_PHOTO = ("texture", "mrgb", "mtex")


@dataclass
class SynthExperiment:
    """Sizes and settings of the experiment.

    Attributes:
        n_train, n_test: FreiHAND-layout images (the writer keeps 1/8 of each as its
            ``evaluation`` split; training uses ``training``, the test ``training`` +
            ``evaluation`` of the test world).
        size: image side, px. epochs, batch_size: training length.
        noise_px, dropout: the ``noisy`` detector. seed, test_seed: the worlds' seeds.
        config: the packaged config the variants start from. overrides: ``--set`` style
            ``key=value`` strings applied to every variant (e.g. a backbone).
    """

    n_train: int = 1024
    n_test: int = 256
    size: int = 64
    epochs: int = 10
    batch_size: int = 16
    noise_px: float = 3.0
    dropout: float = 0.05
    seed: int = 0
    test_seed: int = 1000
    config: str = "s2hand/cpu_e2e"
    overrides: list[str] = field(default_factory=list)


def mean_pose_pa_mpjpe(train_root: Path, test_roots: list[tuple[Path, str]],
                       iterations: int = 5) -> float:
    """PA-MPJPE (mm) of predicting one mean pose everywhere: the training poses' generalised
    Procrustes mean (each aligned by a similarity to the current mean, then averaged; a mean
    of camera-frame poses would blur over the hands' rotations and be a weak reference)."""
    train = open_dataset("freihand", train_root, "training")
    mean = procrustes_mean(np.stack([s.keypoints_3d[0] for s in train]), iterations)
    gt = torch.as_tensor(np.concatenate([
        np.stack([s.keypoints_3d[0] for s in open_dataset("freihand", root, split)])
        for root, split in test_roots]), dtype=torch.float64)
    return float(1000 * pa_mpjpe(mean.expand_as(gt), gt))


def fit_pa_mpjpe(root: Path, split: str, size: int, noise_px: float, dropout: float,
                 batch_size: int = 64, iterations: int = 151, adam: str = "official") -> float:
    """PA-MPJPE (mm) of `fit_hand` (the official schedule, OpenHand) on the 2D keypoints of a
    FreiHAND-layout split, with the same noise and dropout draws as training's detections
    (``noise_px`` 0 and ``dropout`` 0: the true labels); ``size``: the image side, px.
    ``iterations``/``adam``: 151/"official" is the released refinement (`FIT_SCHEDULE`, stretched
    to other lengths); it stops far from convergence (docs/s2hand.md)."""
    items = S2HandItems(open_dataset("freihand", root, split),
                        S2HandDataConfig(root=str(root), noise_px=noise_px, dropout=dropout),
                        size)
    hand = S2HandHand().double()
    pred, gt = [], []
    for start in range(0, len(items), batch_size):
        batch = [items[i] for i in range(start, min(len(items), start + batch_size))]
        fit = fit_hand(hand, torch.stack([b["det"] for b in batch]).double(),
                       torch.stack([b["conf"] for b in batch]).double(),
                       torch.stack([b["K"] for b in batch]).double(), iterations=iterations,
                       adam=adam, schedule=tuple((round(start * iterations / 151), lr)
                                                  for start, lr in FIT_SCHEDULE))
        pred.append(fit.joints.detach())
        gt.append(torch.stack([b["xyz_gt"] for b in batch]).double())
    return float(1000 * pa_mpjpe(torch.cat(pred), torch.cat(gt)))


def inplane_angle_error(uv: torch.Tensor, uv_gt: torch.Tensor) -> torch.Tensor:
    """(N,) degrees in [0, 180]: how far the predicted hand is turned in the image, the angle
    between the wrist → middle-MCP directions (handkit joints 0 → 9) of (N, 21, 2) px
    predictions and labels. A network that has not learnt the orientation scores about 90°
    (the median of a uniform turn) with 1/6 of the hands within 30°."""
    def angle(kp: torch.Tensor) -> torch.Tensor:
        d = kp[:, 9] - kp[:, 0]
        return torch.atan2(d[:, 1], d[:, 0])
    diff = torch.remainder(angle(uv) - angle(uv_gt) + torch.pi, 2 * torch.pi) - torch.pi
    return torch.rad2deg(diff.abs())


def whole_image_scores(ckpt: Path, root: Path, split: str, batch_size: int = 32) -> dict:
    """PA-MPJPE (mm) and the projected joints' 2D error (px) of a checkpoint on whole images
    (as S2HAND evaluates: the FreiHAND-like image itself, its K), labels as the reference; and
    the diagnostics of the far-away collapse: the median predicted and true hand depth (m) and
    the median projected hand extent (px); and of the orientation: the median in-plane turn
    error (degrees, `inplane_angle_error`)."""
    net = load_model(ckpt)[0]
    items = S2HandItems(open_dataset("freihand", root, split),
                        S2HandDataConfig(root=str(root)), net.cfg.image_size)
    pred, gt, uv, uv_gt = [], [], [], []
    for start in range(0, len(items), batch_size):
        batch = [items[i] for i in range(start, min(len(items), start + batch_size))]
        images = net.preprocess(torch.stack([b["image"] for b in batch]))
        with torch.no_grad():
            o = net.run(images, torch.stack([b["K"] for b in batch]), heatmaps=False,
                        texture=False, rendering=False)
        pred.append(o.joints.double())
        uv.append(o.j2d.double())
        gt.append(torch.stack([b["xyz_gt"] for b in batch]).double())
        uv_gt.append(torch.stack([b["uv_gt"] for b in batch]).double())
    pred, gt = torch.cat(pred), torch.cat(gt)
    uv = torch.cat(uv)
    err2d = (uv - torch.cat(uv_gt)).norm(dim=-1)
    extent = (uv.amax(1) - uv.amin(1)).amax(-1)  # the projected hand's larger side, px
    turn = inplane_angle_error(uv, torch.cat(uv_gt))
    return {"pa_mpjpe_mm": float(1000 * pa_mpjpe(pred, gt)),
            "proj_px": float(err2d[torch.isfinite(err2d)].mean()),
            "median_depth_m": float(pred[..., 2].mean(-1).median()),
            "gt_median_depth_m": float(gt[..., 2].mean(-1).median()),
            "median_extent_px": float(extent.median()),
            "median_turn_deg": float(turn[torch.isfinite(turn)].median())}


def run_variant(name: str, exp: SynthExperiment, train_root: Path, out: Path) -> Path:
    """Train one variant; returns its last checkpoint. A variant with a checkpoint is resumed
    (bit-identically): an interrupted run continues to `exp.epochs`, a finished one returns
    at once (before, any ``last.ckpt`` counted as finished)."""
    cfg = load_config(S2HandConfig, config_path(exp.config, "s2hand"), exp.overrides)
    noisy = name != "clean"
    losses = [n for n in cfg.losses if name != "noisy_no_photo" or n not in _PHOTO]
    cfg = replace_config(cfg, {
        "data.root": str(train_root), "data.batch_size": exp.batch_size,
        "model.image_size": exp.size, "trainer.max_epochs": exp.epochs,
        "trainer.progress_bar": False,
        "optim.milestones": [max(1, int(exp.epochs * f)) for f in (0.5, 0.75)],
        "data.noise_px": exp.noise_px if noisy else 0.0,
        "data.dropout": exp.dropout if noisy else 0.0, "losses": losses})
    last = out / name / "checkpoints" / "last.ckpt"
    return train_s2hand(cfg, out / name, resume=last.is_file())


def run_experiment(exp: SynthExperiment, out: str | Path,
                   variants: tuple[str, ...] = VARIANTS) -> dict:
    """Worlds, the variants, their 3D evaluation on the shifted test world, the mean pose.

    Returns:
        {variant: {"pa_mpjpe_mm", "proj_px", "train_s"}, "mean_pose":
        {"pa_mpjpe_mm"}, "setup": {...}}.
    """
    out = Path(out)
    train_root = synthesize("freihand", out / "world_train", exp.n_train, seed=exp.seed,
                            size=exp.size, progress=False)
    test_root = synthesize("freihand", out / "world_test", exp.n_test, seed=exp.test_seed,
                           size=exp.size, appearance="shifted", progress=False)
    results: dict = {"setup": {**exp.__dict__}}
    for name in variants:
        t0 = time.perf_counter()
        ckpt = run_variant(name, exp, train_root, out)
        train_s = time.perf_counter() - t0
        results[name] = {**whole_image_scores(ckpt, test_root, "training"), "train_s": train_s}
    results["mean_pose"] = {"pa_mpjpe_mm": mean_pose_pa_mpjpe(
        train_root, [(test_root, "training")])}
    results["fit_noisy"] = {"pa_mpjpe_mm": fit_pa_mpjpe(test_root, "training", exp.size,
                                                        exp.noise_px, exp.dropout)}
    results["fit_clean"] = {"pa_mpjpe_mm": fit_pa_mpjpe(test_root, "training", exp.size,
                                                        0.0, 0.0)}
    return results
