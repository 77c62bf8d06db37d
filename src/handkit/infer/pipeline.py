"""The test-time pipeline shared by `evaluate` and `predict`: crop, run, re-crop, run.

PeCLR's FreiHAND script (specs/pretrain.md §3.1, ``P:testing/pred_fh.py``): crop a first box
(``0.7`` fill, `data.crop.box_crop_matrix`), predict, take the min/max box of the predicted 2D
keypoints mapped back to the image, crop again around it and predict a second time. K of each
crop is T K. (handkit adds one guard: the second box's side is at least a quarter of the first's.) ``passes=1`` stops after the first prediction (used with a ground-truth box).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from handkit.data.crop import box_crop_matrix, keypoint_box, warp_crop
from handkit.tasks.finetune_model import PoseNet

__all__ = ["CropPrediction", "predict_on_boxes", "DEFAULT_FILL"]

DEFAULT_FILL = 0.7
"""Fraction of the crop the box's longer side spans (official ``0.7 · 224 / side``)."""


@dataclass(frozen=True)
class CropPrediction:
    """Predictions for B images.

    Attributes:
        uv: (B, 21, 2) float64, pixels of each (input) image, handkit order.
        xyz: (B, 21, 3) float64, the model's 3D in bone units (`PoseNet` docstring).
        T: (B, 3, 3) float64, image px → crop px of the last pass.
        crops: (B, S, S, 3) uint8, the last pass's crops.
    """

    uv: np.ndarray
    xyz: np.ndarray
    T: np.ndarray
    crops: np.ndarray


def _run(net: PoseNet, images: list[np.ndarray], T: np.ndarray, K: np.ndarray
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    size = net.cfg.image_size
    crops = np.stack([warp_crop(img, t, size) for img, t in zip(images, T)])
    device = next(net.parameters()).device
    x = net.preprocess(torch.from_numpy(crops).permute(0, 3, 1, 2).to(device))
    Kc = torch.from_numpy(T @ K).float().to(device)
    with torch.no_grad():
        uv_c, xyz = net(x, Kc)
    uv_c = uv_c.double().cpu().numpy()
    inv = np.linalg.inv(T)
    uv = np.einsum("bij,bkj->bki", inv[:, :2, :2], uv_c) + inv[:, None, :2, 2]
    return uv, xyz.double().cpu().numpy(), crops


def _at_least(box: np.ndarray, first: np.ndarray, fraction: float = 0.25) -> np.ndarray:
    """`box` grown about its centre to a side of at least `fraction` of the first box's side
    (handkit's guard: a collapsed first prediction would otherwise zoom into a few pixels)."""
    side = max(box[2] - box[0], box[3] - box[1])
    floor = fraction * max(first[2] - first[0], first[3] - first[1])
    if side >= floor:
        return box
    c = (box[:2] + box[2:]) / 2
    return np.concatenate([c - floor / 2, c + floor / 2])


def predict_on_boxes(net: PoseNet, images: list[np.ndarray], boxes: np.ndarray, K: np.ndarray,
                     *, passes: int = 2, fill: float = DEFAULT_FILL) -> CropPrediction:
    """Run `net` on square crops around `boxes`, refining the box from its own 2D `passes − 1`
    times.

    Args:
        images: B arrays (H_i, W_i, 3) uint8 RGB (right hands: mirror left ones first).
        boxes: (B, 4) float, (x0, y0, x1, y1) pixels of each image, the first-pass box.
        K: (B, 3, 3) float, intrinsics of each image, pixels.
        passes: 1 or 2 (official FreiHAND: 2).
        fill: the box's longer side spans this fraction of the crop.
    """
    if passes not in (1, 2):
        raise ValueError(f"passes: expected 1 or 2, got {passes}.")
    boxes = np.asarray(boxes, dtype=np.float64).reshape(len(images), 4)
    K = np.asarray(K, dtype=np.float64).reshape(len(images), 3, 3)
    size = net.cfg.image_size
    T = np.stack([box_crop_matrix(b, size, fill) for b in boxes])
    uv, xyz, crops = _run(net, images, T, K)
    if passes == 2:
        T = np.stack([box_crop_matrix(_at_least(keypoint_box(u), b), size, fill)
                      for u, b in zip(uv, boxes)])
        uv, xyz, crops = _run(net, images, T, K)
    return CropPrediction(uv=uv, xyz=xyz, T=T, crops=crops)
