"""Run a multi-hand model (SMHR) over a labelled dataset and score its detections.

Each image goes through the model's test input (`data.smhr_inputs.SMHRItems` without
augmentation: the whole image, longer side to the network size), the model's `predict` decodes
its hands, and `eval.multihand` scores them against every labelled hand in the same input
pixels: detection AP / precision / recall at a keypoint-similarity threshold, handedness
accuracy and mean 2D error on the Hungarian-matched pairs, and PA-MPJPE on the matched pairs
when the data has 3D (the prediction's joints against the label's, similarity-aligned, so the
fixed camera's non-metric depth does not matter).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from handkit.data.hands import collate_items
from handkit.data.smhr_inputs import SMHRItems
from handkit.eval.metrics import pa_mpjpe
from handkit.eval.multihand import ImageHands, detection_ap, handedness_accuracy, match_hands

__all__ = ["evaluate_multihand"]


def _labels(batch: dict, i: int) -> tuple[ImageHands, np.ndarray]:
    real = batch["slot"][i].numpy()
    gt = ImageHands(batch["uv"][i].numpy()[real].astype(np.float64),
                    batch["is_right"][i].numpy()[real], valid=batch["valid"][i].numpy()[real])
    return gt, batch["xyz"][i].numpy()[real]


def evaluate_multihand(net: Any, dataset: Any, *, max_objs: int = 8, batch_size: int = 8,
                       threshold: float = 0.5, kappa: float = 0.1,
                       center: str = "mean") -> dict[str, float]:
    """Score `net` on `dataset` (module doc).

    Args:
        net: a model with ``image_size``, ``preprocess`` and ``predict`` returning a
            `models.prediction.Prediction` (SMHR).
        dataset: `Sample`s with every hand labelled (the synthetic multihand world, composed
            images, ...).
        max_objs: labelled hands read per image (more are ignored, and said so by ``num_gt``).
        threshold, kappa: of `eval.multihand.keypoint_similarity`.
        center: the centre rule of the targets (only ``T`` and the labels are used here).

    Returns:
        dict: ``ap``, ``precision``, ``recall``, ``num_pred``, ``num_gt``, ``handedness``,
        ``matched``, ``uv_px`` (mean 2D error of matched hands' valid joints), ``pa_mpjpe_mm``
        (NaN without 3D labels), ``images``, ``bad`` (samples that could not be read).
    """
    items = SMHRItems(dataset, size=net.image_size, max_objs=max_objs, mode="whole",
                      center=center, augment=False)
    loader = DataLoader(items, batch_size=batch_size, shuffle=False, collate_fn=collate_items)
    preds, gts, errors, pa = [], [], [], []
    bad = 0
    net.eval()
    for batch in loader:
        bad += len(batch["bad"])
        if "image" not in batch:
            continue
        with torch.no_grad():
            prediction = net.predict(net.preprocess(batch["image"]))
        for i, hands in enumerate(prediction.hands):
            gt, gt_xyz = _labels(batch, i)
            uv = np.stack([h.uv.numpy() for h in hands]) if hands else np.zeros((0, 21, 2))
            pred = ImageHands(uv.astype(np.float64), np.array([h.is_right for h in hands], bool),
                              score=np.array([h.score for h in hands], np.float64))
            preds.append(pred)
            gts.append(gt)
            m = match_hands(pred, gt, threshold=threshold, kappa=kappa)
            for p, g in zip(m.pred, m.gt):
                ok = gt.joint_valid()[g]
                errors.append(np.linalg.norm(pred.uv[p] - gt.uv[g], axis=-1)[ok])
                if bool(batch["has_xyz"][i]):
                    xyz = hands[p].xyz.double()[None]
                    label = torch.from_numpy(gt_xyz[g]).double()[None]
                    pa.append(float(pa_mpjpe(xyz, label, torch.from_numpy(ok)[None])))
    out: dict[str, float] = dict(detection_ap(preds, gts, threshold=threshold, kappa=kappa))
    side = handedness_accuracy(preds, gts, threshold=threshold, kappa=kappa)
    out.update(handedness=side["accuracy"], matched=side["matched"],
               uv_px=float(np.concatenate(errors).mean()) if errors else float("nan"),
               pa_mpjpe_mm=1000 * float(np.mean(pa)) if pa else float("nan"),
               images=len(preds), bad=bad)
    return out
