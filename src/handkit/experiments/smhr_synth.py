"""SMHR on the synthetic multi-hand world (issue 16 item 7): accuracy against the number of
hands per image (1-4), and weak (2D-only) against full (+ 3D joints) supervision, beside the
mean-pose reference.

One training world with 1-4 hands per image (`handkit synth multihand --hands 1-4`); one test
world per hand count (``--hands N``, another seed). Variants (the CPU twin `smhr/cpu_multi` at
the experiment's sizes):

- ``full``: centre, handedness, 2D reprojection, bone directions, norm prior and the 3D joints
  term (× 10, SMHR's multi-hand path);
- ``weak``: the same without the 3D term (2D keypoints only: SMHR's weakly supervised setting);
- ``full_aligned``: ``full`` with handkit's rotation-aligned 3D term (``joints3d_align:
  rotation``, `losses.smhr.joints3d_loss`: articulation only, not SMHR's).

Scores per test world (`infer.evaluate_multihand`): detection AP at keypoint similarity (KS) ≥
0.5 and ≥ 0.25, recall, handedness of matched hands, and the network read at every labelled
hand's centre (SMHR's protocol, no detection): 2D error, mean KS, PA-MPJPE, handedness.

**Mean-pose reference** (`mean_pose_reference`), per test world, over every labelled hand and
given the true side: in 3D the training hands' generalised Procrustes mean (left hands mirrored
into right ones, mirrored back for a left test hand), PA-MPJPE; in 2D the training hands' mean
keypoint layout (each centred on its keypoint box and divided by √(w·h), left hands mirrored)
placed into the **true** keypoint box: the 2D error and KS of knowing where every hand is and
how big, but not its pose (its ``ks_pass``, the fraction of hands at KS ≥ 0.5, is what a
detector that found every box exactly but predicted the mean layout would recall); and the
same layout at the true centre with the training hands' mean size (``centre_*``: what the
GT-centre protocol gives the network, the centre, but not the size). A model beats the
reference when its GT-centre 2D error / PA-MPJPE are lower.

Every stage reuses its output when it exists (worlds, checkpoints, scores), so an interrupted
run resumes.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from handkit.data.formats import open_dataset
from handkit.data.synth.runner import synthesize
from handkit.eval.metrics import pa_mpjpe, procrustes_mean
from handkit.eval.multihand import keypoint_similarity
from handkit.infer.evaluate_multihand import evaluate_multihand
from handkit.models.checkpoint import load_model
from handkit.tasks.smhr import SMHRConfig, smhr
from handkit.utils.config import config_path, load_config, replace_config
from handkit.utils.files import write_json

__all__ = ["MultiHandExperiment", "VARIANTS", "mean_pose_reference", "run_variant",
           "score_variant", "run_experiment"]

VARIANTS = ("full", "weak", "full_aligned")
_SCORES = ("ap", "ap@0.25", "recall", "precision", "num_pred", "num_gt", "handedness", "matched",
           "uv_px", "ks", "pa_mpjpe_mm", "gtc_uv_px", "gtc_ks", "gtc_pa_mpjpe_mm",
           "gtc_handedness", "gtc_hands")


@dataclass
class MultiHandExperiment:
    """Sizes and settings.

    Attributes:
        n_train: training images (hands per image uniform in `train_hands`).
        n_test: test images per hand count in `counts`.
        size: image side = network input, px (the synthetic world's minimum is 128).
        epochs, batch_size: training length. seed, test_seed: the worlds' seeds.
        config: the packaged config the variants start from. overrides: ``--set`` style
            ``key=value`` strings applied to every variant.
    """

    n_train: int = 512
    n_test: int = 48
    size: int = 128
    epochs: int = 6
    batch_size: int = 8
    train_hands: tuple[int, int] = (1, 4)
    counts: tuple[int, ...] = (1, 2, 3, 4)
    seed: int = 0
    test_seed: int = 1000
    config: str = "smhr/cpu_multi"
    overrides: list[str] = field(default_factory=list)


def _label_hands(root: Path) -> list[dict]:
    """Every labelled hand of a synthetic multi-hand folder: uv (21, 2) px, xyz (21, 3) m,
    is_right (read from annotations.json: no images decoded)."""
    ds = open_dataset("multihand", root, "all")
    return [{"uv": np.asarray(h["uv"], np.float64), "xyz": np.asarray(h["xyz"], np.float64),
             "is_right": h["handedness"] == "right"} for img in ds.images for h in img["hands"]]


def _mirror_x(points: np.ndarray, flip: np.ndarray) -> np.ndarray:
    """(B, 21, C) points with x negated where `flip` (B,) is True."""
    sign = np.where(flip, -1.0, 1.0)[:, None]
    out = points.copy()
    out[..., 0] *= sign
    return out


def _box_frame(uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(B, 21, 2) → keypoint-box centres (B, 2) and sizes √(w·h) (B,) px."""
    lo, hi = uv.min(1), uv.max(1)
    wh = np.maximum(hi - lo, 1.0)
    return (lo + hi) / 2, np.sqrt(wh[:, 0] * wh[:, 1])


def _layout_error(pred: np.ndarray, gt: np.ndarray, kappa: float) -> tuple[np.ndarray, ...]:
    """Per hand: mean 2D error (px) and KS of (B, 21, 2) predictions."""
    err = np.linalg.norm(pred - gt, axis=-1).mean(-1)
    ks = np.array([keypoint_similarity(p[None], g[None], kappa=kappa)[0, 0]
                   for p, g in zip(pred, gt)])
    return err, ks


def mean_pose_reference(train: list[dict], test: list[dict], *, threshold: float = 0.5,
                        kappa: float = 0.1) -> dict[str, float]:
    """The mean-pose reference on the test hands (module doc).

    Args:
        train, test: `_label_hands` lists (uv px, xyz m, is_right); the test uv in the frame
            the model is scored in (here the network input, which the synthetic image equals).

    Returns:
        ``pa_mpjpe_mm`` (3D, over every test hand); in the true box: ``uv_px`` (mean 2D error
        of the mean layout), ``ks`` (its mean KS), ``ks_pass`` (fraction with KS ≥
        `threshold`); at the true centre (the mean of the keypoints, the targets' centre) with
        the training hands' mean size: ``centre_uv_px``, ``centre_ks``; ``hands``.
    """
    if not train or not test:
        raise ValueError("train, test: the reference needs labelled hands in both.")
    t_left = np.array([not h["is_right"] for h in train])
    xyz = np.stack([h["xyz"] - h["xyz"][:1] for h in train])
    mean3d = procrustes_mean(_mirror_x(xyz, t_left)).numpy()
    uv = _mirror_x(np.stack([h["uv"] for h in train]), t_left)
    c, s = _box_frame(uv)
    layout = ((uv - c[:, None]) / s[:, None, None]).mean(0)  # (21, 2), right-hand frame
    centred = ((uv - uv.mean(1, keepdims=True)) / s[:, None, None]).mean(0)
    size = float(s.mean())

    left = np.array([not h["is_right"] for h in test])
    gt_xyz = np.stack([h["xyz"] for h in test])
    pred3d = _mirror_x(np.repeat(mean3d[None], len(test), 0), left)
    pa = float(pa_mpjpe(torch.from_numpy(pred3d), torch.from_numpy(gt_xyz)))
    gt_uv = np.stack([h["uv"] for h in test])
    c, s = _box_frame(gt_uv)
    in_box = c[:, None] + s[:, None, None] * _mirror_x(np.repeat(layout[None], len(test), 0),
                                                        left)
    at_centre = gt_uv.mean(1, keepdims=True) + size * _mirror_x(
        np.repeat(centred[None], len(test), 0), left)
    err, ks = _layout_error(in_box, gt_uv, kappa)
    err_c, ks_c = _layout_error(at_centre, gt_uv, kappa)
    return {"pa_mpjpe_mm": 1000 * pa, "uv_px": float(err.mean()), "ks": float(ks.mean()),
            "ks_pass": float((ks >= threshold).mean()), "centre_uv_px": float(err_c.mean()),
            "centre_ks": float(ks_c.mean()), "hands": len(test)}


def _config(name: str, exp: MultiHandExperiment, train_root: Path) -> SMHRConfig:
    if name not in VARIANTS:
        raise ValueError(f"variant: one of {', '.join(VARIANTS)}, got {name!r}.")
    cfg = load_config(SMHRConfig, config_path(exp.config, "smhr"), exp.overrides)
    changes = {"data.root": str(train_root), "data.format": "multihand", "data.split": "all",
               "data.batch_size": exp.batch_size, "data.num_workers": 0,
               "model.image_size": exp.size, "trainer.max_epochs": exp.epochs,
               "trainer.progress_bar": False}
    if name == "weak":
        changes["loss.joints3d"] = 0.0
    if name == "full_aligned":
        changes["joints3d_align"] = "rotation"
    return replace_config(cfg, changes)


def run_variant(name: str, exp: MultiHandExperiment, train_root: Path,
                out: Path) -> tuple[Path, float]:
    """Train one variant, or reuse its finished run; returns (last checkpoint, training wall
    clock in s as measured when it was trained, ``<out>/<name>/train_time.json``; after an
    interruption, only the resumed part)."""
    cfg = _config(name, exp, train_root)
    timing = out / name / "train_time.json"
    last = out / name / "checkpoints" / "last.ckpt"
    if last.is_file() and timing.is_file():
        return last, float(json.loads(timing.read_text())["train_s"])
    t0 = time.perf_counter()
    last = smhr(cfg, out / name, resume=last.is_file())  # an interrupted run continues
    train_s = time.perf_counter() - t0
    write_json(timing, {"train_s": train_s})
    return last, train_s


def score_variant(ckpt: Path, tests: dict[int, Path], out: Path) -> dict[int, dict]:
    """`evaluate_multihand` of one checkpoint on every test world (GT-centre reading on, a
    gallery per count in `out`), cached in ``out/scores.json``."""
    cache = out / "scores.json"
    if cache.is_file():
        return {int(k): v for k, v in json.loads(cache.read_text()).items()}
    net = load_model(ckpt)[0]
    scores = {}
    for count, root in tests.items():
        m = evaluate_multihand(net, open_dataset("multihand", root, "all"),
                               ap_thresholds=(0.25,), gt_centres=True,
                               gallery=out / f"gallery_{count}hands.png", gallery_images=8)
        scores[count] = {k: m[k] for k in _SCORES}
    write_json(cache, {str(k): v for k, v in scores.items()})
    return scores


def run_experiment(exp: MultiHandExperiment, out: str | Path,
                   variants: tuple[str, ...] = VARIANTS) -> dict:
    """Worlds, the variants, their scores per hand count, the mean-pose reference.

    Returns:
        {variant: {"train_s": float, "scores": {count: {...}}}, "mean_pose": {count: {...}},
        "setup": {...}}.
    """
    out = Path(out)
    train_root = synthesize("multihand", out / "world_train", exp.n_train, seed=exp.seed,
                            size=exp.size, progress=False, hands=exp.train_hands)
    tests = {n: synthesize("multihand", out / f"world_test_{n}", exp.n_test,
                           seed=exp.test_seed + n, size=exp.size, progress=False, hands=n)
             for n in exp.counts}
    results: dict = {"setup": {**exp.__dict__}}
    for name in variants:
        ckpt, train_s = run_variant(name, exp, train_root, out)
        results[name] = {"train_s": train_s, "scores": score_variant(ckpt, tests, out / name)}
    train = _label_hands(train_root)
    results["mean_pose"] = {n: mean_pose_reference(train, _label_hands(root))
                            for n, root in tests.items()}
    return results
