"""S2HAND's 2D evaluation (specs/mesh.md §2.8): the heat-map branch, the projected 3D joints and
the input detections against the labelled 2D, as the official ``save_2d`` reports them.

The 3D numbers (PA-MPJPE, AUC, F-scores) come from the generic `infer.evaluate` (an s2hand
checkpoint goes through it as any model).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from handkit.data.formats import detect_format, open_dataset
from handkit.data.s2hand import S2HandDataConfig, S2HandItems
from handkit.eval.keypoints_2d import report_2d
from handkit.models.checkpoint import load_model
from handkit.utils.files import write_json

__all__ = ["evaluate_2d"]


def evaluate_2d(ckpt: str | Path, data: str | Path, *, split: str = "evaluation",
                format: str = "auto", detections: S2HandDataConfig | None = None,
                batch_size: int = 16, limit: int | None = None,
                out: str | Path | None = None) -> dict:
    """The three 2D sources' errors on a labelled split.

    Args:
        ckpt: an s2hand checkpoint. data, split, format: the dataset.
        detections: where the input detections come from (`data.s2hand.S2HandDataConfig`'s
            ``keypoints`` / ``detections`` / noise fields); None = the labels without noise.
        limit: the first `limit` samples. out: also write the report there as JSON.

    Returns:
        `eval.keypoints_2d.report_2d` of ``heatmap``, ``projected``, ``detected`` (pixels of the
        model's input), plus ``num_samples``.
    """
    net = load_model(ckpt)[0]
    if net.cfg.name != "s2hand":
        raise ValueError(f"{ckpt}: a {net.cfg.name} checkpoint; the 2D report reads S2HAND's "
                         f"heat-map branch.")
    fmt = detect_format(data) if format == "auto" else format
    cfg = detections or S2HandDataConfig(root=str(data))
    items = S2HandItems(open_dataset(fmt, data, split), cfg, net.cfg.image_size)
    n = len(items) if limit is None else min(limit, len(items))
    hm, proj, det, gt = [], [], [], []
    for start in range(0, n, batch_size):
        batch = [items[i] for i in range(start, min(n, start + batch_size))]
        bad = [b["bad"] for b in batch if "bad" in b]
        if bad:
            raise ValueError(f"{data}: {bad[0]} (the 2D report needs every sample).")
        images = torch.stack([b["image"] for b in batch])
        K = torch.stack([b["K"] for b in batch])
        with torch.no_grad():
            o = net.run(net.preprocess(images), K, texture=False, rendering=False)
        hm.append(o.hm_uv[-1].numpy())
        proj.append(o.j2d.numpy())
        det.append(torch.stack([b["det"] for b in batch]).numpy())
        gt.append(torch.stack([b["uv_gt"] for b in batch]).numpy())
    report = report_2d({"heatmap": np.concatenate(hm), "projected": np.concatenate(proj),
                        "detected": np.concatenate(det)}, np.concatenate(gt))
    report["num_samples"] = n
    if out is not None:
        write_json(out, report)
    return report
