"""The test-time pipeline shared by `evaluate` and `predict`: crop, run, re-crop, run.

PeCLR's FreiHAND script (specs/pretrain.md §3.1, ``P:testing/pred_fh.py``): crop a first box
(``0.7`` fill, `data.crop.box_crop_matrix`), predict, take the min/max box of the predicted 2D
keypoints **in crop pixels, truncated to integers** (``int(min/max)``), map it back to the image,
crop again around it and predict a second time. K of each crop is T K. ``passes=1`` stops after
the first prediction (used with a ground-truth box).

handkit adds one guard: the second box's side is at least a quarter of the first's (a collapsed
first prediction would otherwise zoom into a few pixels). ``second_box="float"`` keeps the
predicted box unrounded (the centre moves by up to half a crop pixel, ~0.34 image px for a
FreiHAND crop); ``"official"`` is the default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from handkit.data.crop import box_crop_matrix, keypoint_box, warp_crop
from handkit.geometry.camera import apply_affine_2d
from handkit.models.posenet import PoseNet
from handkit.models.prediction import Prediction
from handkit.utils.check import check_choice

__all__ = ["CropPrediction", "predict_on_boxes", "run_crops", "second_pass_box", "photo_K",
           "DEFAULT_FILL", "SECOND_BOXES"]

DEFAULT_FILL = 0.7
"""Fraction of the crop the box's longer side spans (official ``0.7 · 224 / side``)."""
SECOND_BOXES = ("official", "float")


@dataclass(frozen=True)
class CropPrediction:
    """Predictions for B images, one hand each.

    Attributes:
        prediction: the model's `Prediction`, 2D in pixels of each (input) image.
        T: (B, 3, 3) float64, image px → crop px of the last pass.
        crops: (B, S, S, 3) uint8, the last pass's crops.
    """

    prediction: Prediction
    T: np.ndarray
    crops: np.ndarray

    @property
    def uv(self) -> np.ndarray:
        """(B, 21, 2) float64, pixels of each image, handkit order."""
        return self.prediction.stack("uv").double().cpu().numpy()

    @property
    def xyz(self) -> np.ndarray:
        """(B, 21, 3) float64, the model's 3D in its own unit and frame (`PoseNet`)."""
        return self.prediction.stack("xyz").double().cpu().numpy()

    @property
    def vertices(self) -> np.ndarray | None:
        """(B, V, 3) float64 in the unit and frame of `xyz`, or None when a hand has none
        (pose-only models); the faces are ``prediction.faces``."""
        if any(hs[0].vertices is None for hs in self.prediction.hands):
            return None
        return self.prediction.stack("vertices").double().cpu().numpy()


def run_crops(net: PoseNet, images: list[np.ndarray], T: np.ndarray, K: np.ndarray
              ) -> tuple[Prediction, Prediction, np.ndarray]:
    """One network pass on the crops ``warp_crop(images[i], T[i])``.

    Args:
        images: B arrays (H_i, W_i, 3) uint8 RGB. T: (B, 3, 3) image px → crop px.
        K: (B, 3, 3) float, intrinsics of each image, pixels.

    Returns:
        (prediction in crop px, the same in image px, crops (B, S, S, 3) uint8).
    """
    size = net.cfg.image_size
    crops = np.stack([warp_crop(img, t, size) for img, t in zip(images, T)])
    device = next(net.parameters()).device
    x = net.preprocess(torch.from_numpy(crops).permute(0, 3, 1, 2).to(device))
    in_crop = net.predict(x, torch.from_numpy(T @ K).float().to(device))
    return in_crop, in_crop.map_uv(torch.from_numpy(np.linalg.inv(T))), crops


def photo_K(height: int, width: int) -> np.ndarray:
    """(3, 3) float64 intrinsics assumed for a photo of unknown camera, pixels:
    f = max(W, H) (about 53° across the long side), principal point at the centre."""
    f = float(max(height, width))
    return np.array([[f, 0.0, width / 2], [0.0, f, height / 2], [0.0, 0.0, 1.0]])


def second_pass_box(uv_crop: np.ndarray, T: np.ndarray, *,
                    rule: Literal["official", "float"] = "official") -> np.ndarray:
    """The second pass's box in image pixels from the first pass's 2D in crop pixels.

    Args:
        uv_crop: (21, 2) float, crop pixels. T: (3, 3) image px → crop px.
        rule: "official" truncates the crop-pixel box to integers (PeCLR's ``int()``) before
            mapping it back; "float" keeps it.

    Returns:
        (4,) float64 (x0, y0, x1, y1), image pixels.
    """
    check_choice(rule, SECOND_BOXES, name="second_box")
    box = keypoint_box(uv_crop)
    if rule == "official":
        box = np.trunc(box)
    corners = apply_affine_2d(box.reshape(2, 2), np.linalg.inv(T))
    return corners.reshape(4)


def _at_least(box: np.ndarray, first: np.ndarray, fraction: float = 0.25) -> np.ndarray:
    """`box` grown about its centre to a side of at least `fraction` of the first box's side."""
    side = max(box[2] - box[0], box[3] - box[1])
    floor = fraction * max(first[2] - first[0], first[3] - first[1])
    if side >= floor:
        return box
    c = (box[:2] + box[2:]) / 2
    return np.concatenate([c - floor / 2, c + floor / 2])


def predict_on_boxes(net: PoseNet, images: list[np.ndarray], boxes: np.ndarray, K: np.ndarray,
                     *, passes: int = 2, fill: float = DEFAULT_FILL,
                     second_box: Literal["official", "float"] = "official") -> CropPrediction:
    """Run `net` on square crops around `boxes`, refining the box from its own 2D `passes − 1`
    times.

    Args:
        images: B arrays (H_i, W_i, 3) uint8 RGB (right hands: mirror left ones first).
        boxes: (B, 4) float, (x0, y0, x1, y1) pixels of each image, the first-pass box.
        K: (B, 3, 3) float, intrinsics of each image, pixels.
        passes: 1 or 2 (official FreiHAND: 2).
        fill: the box's longer side spans this fraction of the crop.
        second_box: `second_pass_box` rule.
    """
    if passes not in (1, 2):
        raise ValueError(f"passes: expected 1 or 2, got {passes}.")
    check_choice(second_box, SECOND_BOXES, name="second_box")
    boxes = np.asarray(boxes, dtype=np.float64).reshape(len(images), 4)
    K = np.asarray(K, dtype=np.float64).reshape(len(images), 3, 3)
    size = net.cfg.image_size
    T = np.stack([box_crop_matrix(b, size, fill) for b in boxes])
    in_crop, pred, crops = run_crops(net, images, T, K)
    if passes == 2:
        uv_crop = in_crop.stack("uv").double().cpu().numpy()
        T = np.stack([box_crop_matrix(_at_least(second_pass_box(u, t, rule=second_box), b),
                                      size, fill)
                      for u, t, b in zip(uv_crop, T, boxes)])
        _, pred, crops = run_crops(net, images, T, K)
    return CropPrediction(prediction=pred, T=T, crops=crops)
