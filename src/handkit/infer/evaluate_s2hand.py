"""S2HAND's own evaluation outputs (specs/mesh.md §2.8): the 2D report (the heat-map branch,
the projected 3D joints and the input detections against the labelled 2D, as the official
``save_2d`` reports them), its PCK figure, and the mesh gallery (the rendered mesh on the image,
the silhouette, the predicted texture).

Everything runs on whole images resized to the model's side (K follows), as S2HAND evaluates
FreiHAND. The 3D numbers (PA-MPJPE, AUC, F-scores) come from the generic `infer.evaluate` (an
s2hand checkpoint goes through it as any model); ``handkit evaluate`` adds these outputs for an
s2hand checkpoint (`is_s2hand_checkpoint`).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from handkit.data.formats import detect_format, open_dataset
from handkit.data.s2hand import S2HandDataConfig, S2HandItems
from handkit.eval.keypoints_2d import PCK_2D_THRESHOLDS, report_2d
from handkit.eval.plots import plot_pck
from handkit.models.checkpoint import load_model, read_checkpoint
from handkit.render import PinholeCamera, render
from handkit.utils.files import write_image, write_json

__all__ = ["evaluate_2d", "gallery_panels", "write_gallery", "is_s2hand_checkpoint",
           "report_lines", "PANELS"]

PANELS = ("image", "mesh overlay", "silhouette", "texture")
"""The gallery's columns: the input, the rendered (lit) mesh composited on it by its
silhouette, the silhouette, the predicted per-face albedo tanh(texture) rendered unlit."""


def is_s2hand_checkpoint(path: str | Path | None) -> bool:
    """Whether `path` is a checkpoint of the ``s2hand`` model (False for None or another)."""
    if path is None:
        return False
    try:
        _, hparams = read_checkpoint(path)
    except (OSError, ValueError):
        return False
    config = hparams.get("config") if isinstance(hparams, dict) else None
    model = config.get("model") if isinstance(config, dict) else None
    return isinstance(model, dict) and model.get("name") == "s2hand"


@torch.no_grad()
def gallery_panels(net, images: torch.Tensor, K: torch.Tensor) -> dict[str, np.ndarray]:
    """The gallery's panels for a batch.

    Args:
        net: an `S2Hand` (eval mode). images: (B, 3, S, S) float in [0, 1] (`preprocess`).
        K: (B, 3, 3) px intrinsics of these images.

    Returns:
        {"image", "mesh overlay", "texture": (B, S, S, 3) uint8 RGB; "silhouette": (B, S, S)
        float in [0, 1], the model's own soft silhouette}. The overlay is
        image · (1 − sil) + rendered · sil; the texture is the unlit albedo tanh(texture)
        rendered, white · (1 − sil) + albedo · sil.
    """
    out = net.run(images, K, heatmaps=False)
    sil = out.silhouette.clamp(0, 1)
    image = images.permute(0, 2, 3, 1).clamp(0, 1)
    overlay = image * (1 - sil[..., None]) + out.rgb.clamp(0, 1) * sil[..., None]
    albedo = render(out.vertices, net.faces, PinholeCamera(K), images.shape[-1],
                    attrs=torch.tanh(out.textures), outputs=("rgb",), sigma=net.render_sigma,
                    background=1.0).rgb.clamp(0, 1)
    # the soft blend's colour reaches past the coverage (SoftRas' depth softmax); both colour
    # panels are composited by the silhouette, so nothing shows where the mesh is not
    albedo = (1 - sil[..., None]) + albedo * sil[..., None]
    to8 = lambda x: (x * 255).round().to(torch.uint8).numpy()  # noqa: E731
    return {"image": to8(image), "mesh overlay": to8(overlay), "silhouette": sil.numpy(),
            "texture": to8(albedo)}


def write_gallery(panels: dict[str, np.ndarray], path: str | Path, *, cell: int = 160,
                  gap: int = 2) -> Path:
    """One PNG: a header row naming `PANELS`, then one row per sample, each panel scaled to
    `cell` px (nearest), `gap` px of white between them. Returns `path`.

    Layout: height = 24 + B · (cell + gap), width = 4 · (cell + gap) − gap.
    """
    n = len(panels["image"])
    if n == 0:
        raise ValueError("panels: no sample to draw.")
    width = len(PANELS) * (cell + gap) - gap
    canvas = np.full((24 + n * (cell + gap), width, 3), 255, np.uint8)
    for c, name in enumerate(PANELS):
        cv2.putText(canvas, name, (c * (cell + gap) + 4, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (0, 0, 0), 1, cv2.LINE_AA)
    for r in range(n):
        for c, name in enumerate(PANELS):
            p = panels[name][r]
            if p.ndim == 2:
                p = np.repeat((p[..., None] * 255).round().astype(np.uint8), 3, axis=-1)
            p = cv2.resize(p, (cell, cell), interpolation=cv2.INTER_NEAREST)
            y, x = 24 + r * (cell + gap), c * (cell + gap)
            canvas[y:y + cell, x:x + cell] = p
    return write_image(path, cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))


def evaluate_2d(ckpt: str | Path, data: str | Path, *, split: str = "evaluation",
                format: str = "auto", detections: S2HandDataConfig | None = None,
                batch_size: int = 16, limit: int | None = None,
                out: str | Path | None = None, pck_figure: str | Path | None = None,
                gallery: int = 0, gallery_path: str | Path | None = None) -> dict:
    """The three 2D sources' errors on a labelled split, optionally the figures.

    Args:
        ckpt: an s2hand checkpoint. data, split, format: the dataset.
        detections: where the input detections come from (`data.s2hand.S2HandDataConfig`'s
            ``keypoints`` / ``detections`` / noise fields); None = the labels without noise.
        limit: the first `limit` samples. out: also write the report there as JSON.
        pck_figure: also plot the three PCK curves (0-49 px) there (PNG).
        gallery, gallery_path: the first `gallery` samples' panels (`gallery_panels`) drawn
            into `gallery_path` (PNG).

    Returns:
        `eval.keypoints_2d.report_2d` of ``heatmap``, ``projected``, ``detected`` (pixels of the
        model's input), plus ``num_samples`` and ``detections`` (where they came from).
    """
    net = load_model(ckpt)[0]
    if net.cfg.name != "s2hand":
        raise ValueError(f"{ckpt}: a {net.cfg.name} checkpoint; the 2D report reads S2HAND's "
                         f"heat-map branch.")
    if gallery and gallery_path is None:
        raise ValueError("gallery_path: needed to draw the gallery.")
    fmt = detect_format(data) if format == "auto" else format
    cfg = detections or S2HandDataConfig(root=str(data))
    items = S2HandItems(open_dataset(fmt, data, split), cfg, net.cfg.image_size)
    n = len(items) if limit is None else min(limit, len(items))
    hm, proj, det, gt = [], [], [], []
    panels: dict[str, list] = {name: [] for name in PANELS}
    for start in range(0, n, batch_size):
        batch = [items[i] for i in range(start, min(n, start + batch_size))]
        bad = [b["bad"] for b in batch if "bad" in b]
        if bad:
            raise ValueError(f"{data}: {bad[0]} (the 2D report needs every sample).")
        images = net.preprocess(torch.stack([b["image"] for b in batch]))
        K = torch.stack([b["K"] for b in batch])
        with torch.no_grad():
            o = net.run(images, K, texture=False, rendering=False)
        hm.append(o.hm_uv[-1].numpy())
        proj.append(o.j2d.numpy())
        det.append(torch.stack([b["det"] for b in batch]).numpy())
        gt.append(torch.stack([b["uv_gt"] for b in batch]).numpy())
        todo = gallery - len(panels["image"])
        if todo > 0:
            for name, value in gallery_panels(net, images[:todo], K[:todo]).items():
                panels[name].extend(value)
    report = report_2d({"heatmap": np.concatenate(hm), "projected": np.concatenate(proj),
                        "detected": np.concatenate(det)}, np.concatenate(gt))
    report["num_samples"] = n
    report["detections"] = (f"file {cfg.detections}" if cfg.keypoints == "file" else
                            f"labels + N(0, {cfg.noise_px}^2) px, dropout {cfg.dropout}")
    if out is not None:
        write_json(out, report)
    if pck_figure is not None:
        curves = {name: {"thresholds": PCK_2D_THRESHOLDS.tolist(), "pck": report[name]["pck"],
                         "unit": "px"} for name in ("heatmap", "projected", "detected")}
        plot_pck(curves, pck_figure, title=f"S2HAND 2D PCK ({n} samples, {split})")
    if gallery:
        write_gallery({k: np.stack(v) for k, v in panels.items()}, gallery_path)
    return report


def report_lines(report: dict) -> list[str]:
    """The 2D report as a short table (mean px, AUC 0-49 px) for the terminal."""
    lines = [f"S2HAND 2D report ({report['num_samples']} samples; detections: "
             f"{report['detections']})", f"{'source':>10} {'mean px':>8} {'AUC 0-49':>9}"]
    for name in ("heatmap", "projected", "detected"):
        r = report[name]
        lines.append(f"{name:>10} {r['mean_px']:8.2f} {r['auc']:9.3f}")
    return lines
