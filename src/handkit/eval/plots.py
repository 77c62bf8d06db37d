"""Figures of an evaluation or a prediction: PCK curves, 2D skeleton overlays, a 3D skeleton.

Matplotlib with the Agg backend (no display needed). Skeletons are drawn in handkit order with
`hand.skeleton.BONES`; prediction in red, ground truth in green.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from handkit.hand.skeleton import BONES  # noqa: E402

__all__ = ["plot_pck", "overlay_gallery", "draw_skeleton_2d", "plot_skeleton_3d",
           "PRED_COLOR", "GT_COLOR"]

PRED_COLOR, GT_COLOR = "#e8312f", "#2fbf4a"


def plot_pck(curves: dict[str, dict[str, Any]], path: str | Path, *, title: str = "PCK") -> Path:
    """One PNG with every curve of an `EvalReport.curves` (name → thresholds, pck, unit).

    The legend gives each curve's AUC (normalised area, the report's definition).
    """
    if not curves:
        raise ValueError("curves: nothing to plot.")
    fig, ax = plt.subplots(figsize=(5, 4), dpi=100)
    unit = ""
    for name, c in curves.items():
        t, p = np.asarray(c["thresholds"], dtype=float), np.asarray(c["pck"], dtype=float)
        area = float(np.trapezoid(p, t) / (t[-1] - t[0]))
        ax.plot(t, p, label=f"{name} (AUC {area:.3f})")
        unit = c.get("unit", "")
    ax.set_xlabel(f"threshold ({unit})")
    ax.set_ylabel("fraction of keypoints within threshold")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title(title)
    return _save(fig, path)


def draw_skeleton_2d(ax: Any, uv: np.ndarray, color: str, *, lw: float = 1.5) -> None:
    """Draw (21, 2) pixel keypoints (handkit order) as bones and joints on `ax`."""
    uv = np.asarray(uv, dtype=float)
    for a, b in BONES:
        ax.plot([uv[a, 0], uv[b, 0]], [uv[a, 1], uv[b, 1]], color=color, lw=lw)
    ax.scatter(uv[:, 0], uv[:, 1], s=6, c=color, zorder=3)


def overlay_gallery(images: Sequence[np.ndarray], pred_uv: Sequence[np.ndarray],
                    gt_uv: Sequence[np.ndarray] | None, path: str | Path, *,
                    titles: Sequence[str] | None = None, columns: int = 4) -> Path:
    """A grid of images with the predicted (red) and, if given, true (green) skeletons.

    Args:
        images: N arrays (H, W, 3) uint8 RGB.
        pred_uv, gt_uv: N arrays (21, 2) float, pixels of each image.
        titles: N short captions.
    """
    n = len(images)
    if n == 0:
        raise ValueError("images: nothing to draw.")
    cols = min(columns, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.6 * rows), dpi=100,
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        h, w = images[i].shape[:2]
        ax.imshow(images[i], extent=(0, w, h, 0))  # handkit pixel corners on integers
        if gt_uv is not None:
            draw_skeleton_2d(ax, gt_uv[i], GT_COLOR)
        draw_skeleton_2d(ax, pred_uv[i], PRED_COLOR)
        ax.set_xlim(0, w)
        ax.set_ylim(h, 0)
        if titles is not None:
            ax.set_title(titles[i], fontsize=7)
    fig.suptitle("red: prediction" + ("   green: ground truth" if gt_uv is not None else ""),
                 fontsize=8)
    return _save(fig, path)


def plot_skeleton_3d(xyz: np.ndarray, path: str | Path, *, title: str = "") -> Path:
    """A 3D view of one (21, 3) skeleton (camera frame: x right, y down, z forward)."""
    xyz = np.asarray(xyz, dtype=float)
    fig = plt.figure(figsize=(4, 4), dpi=100)
    ax = fig.add_subplot(projection="3d")
    for a, b in BONES:  # plot (x, z, -y): depth into the page, up is up
        ax.plot([xyz[a, 0], xyz[b, 0]], [xyz[a, 2], xyz[b, 2]], [-xyz[a, 1], -xyz[b, 1]],
                color=PRED_COLOR)
    ax.scatter(xyz[:, 0], xyz[:, 2], -xyz[:, 1], s=8, c=PRED_COLOR)
    centre, half = xyz.mean(0), max(float(np.ptp(xyz, axis=0).max()) / 2, 1e-3)
    ax.set_xlim(centre[0] - half, centre[0] + half)
    ax.set_ylim(centre[2] - half, centre[2] + half)
    ax.set_zlim(-centre[1] - half, -centre[1] + half)
    ax.set_xlabel("x (right)")
    ax.set_ylabel("z (forward)")
    ax.set_zlabel("-y (up)")
    ax.set_title(title, fontsize=8)
    return _save(fig, path)


def _save(fig: Any, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
