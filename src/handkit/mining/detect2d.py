"""2D keypoints of hand crops behind one interface, with pluggable sources (docs/mining.md).

A source maps a batch of crops to `Detections` (keypoints in crop pixels, a per-hand confidence,
`found`). Sources:

- `LabelKeypoints`: given labels (synthetic or annotated data); confidence 1.
- `ModelKeypoints`: any torch module returning 21x2 keypoints (a handkit-trained 2D model).
- `MediaPipeKeypoints`: MediaPipe Hands 0.10.21 in this process (the optional extra
  ``handkit[mediapipe]``; `external.mediapipe`).

Crops with no detection (`found` False) are reported and left out by the miner, never crashed on.
**Convention:** keypoints are (B, 21, 2) float32 pixels of the (unflipped) crop, handkit
order (= MediaPipe's), handkit pixel convention (centre of column i at i + 0.5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from handkit.models.backbones import IMAGENET_MEAN, IMAGENET_STD
from handkit.utils.check import check_choice, check_shape
from handkit.external.mediapipe import shared_hands

__all__ = ["Detections", "KeypointSource", "LabelKeypoints", "ModelKeypoints",
           "MediaPipeKeypoints"]



@dataclass(frozen=True)
class Detections:
    """keypoints (B, 21, 2) float32 crop pixels (NaN where not found); confidence (B,) float32
    in [0, 1] as the source reports it; found (B,) bool."""

    keypoints: np.ndarray
    confidence: np.ndarray
    found: np.ndarray


class KeypointSource:
    """Base class. `needs_images`: whether `detect` reads the crops (labels do not)."""

    name = "base"
    needs_images = True

    def detect(self, rows: np.ndarray, images: np.ndarray | None) -> Detections:
        """rows: (B,) int pool rows; images: (B, S, S, 3) uint8 RGB crops or None."""
        raise NotImplementedError


def _finalize(kp: np.ndarray, conf: np.ndarray, min_confidence: float) -> Detections:
    kp = kp.astype(np.float32)
    conf = np.nan_to_num(conf.astype(np.float32), nan=0.0)
    found = np.isfinite(kp).all((1, 2)) & (conf >= min_confidence)
    kp[~found] = np.nan
    return Detections(keypoints=kp, confidence=conf, found=found)


class LabelKeypoints(KeypointSource):
    """Keypoints that are already known (synthetic data, annotated datasets, Hand100M files).

    Args:
        keypoints: (M, 21, 2) crop pixels for the whole pool; NaN rows count as "no hand".
        confidence: (M,) optional per-hand scores (default 1).
    """

    name = "labels"
    needs_images = False

    def __init__(self, keypoints: np.ndarray, confidence: np.ndarray | None = None):
        m = check_shape(keypoints, "M 21 2", name="keypoints")["M"]
        self.keypoints = np.asarray(keypoints, np.float32)
        self.confidence = np.ones(m, np.float32) if confidence is None else \
            np.asarray(confidence, np.float32)
        check_shape(self.confidence, f"{m}", name="confidence")

    def detect(self, rows, images=None) -> Detections:
        return _finalize(self.keypoints[rows].copy(), self.confidence[rows], 0.0)


class ModelKeypoints(KeypointSource):
    """Adapter around any torch module that predicts 21 2D keypoints from a crop.

    The module gets (B, 3, S, S) float32 on its own device (RGB in [0, 1], ImageNet-normalised
    when `normalize`) and returns either a tensor (B, 21, 2) / (B, 21, 3) (3rd column: per-joint
    confidence in [0, 1]) or a tuple (keypoints (B, 21, 2), confidence (B,) or (B, 21)).
    The hand's confidence is the mean joint confidence (1 if the model gives none).

    Args:
        model: the module (put in eval mode; run under `torch.no_grad`).
        coords: ``pixels`` (of the S-pixel crop) or ``normalized`` (0..1, multiplied by S).
        normalize: ImageNet mean/std normalisation (torchvision/timm backbones).
        min_confidence: hands scoring below are "not found".
    """

    name = "model"
    _COORDS = {"pixels": False, "normalized": True}

    def __init__(self, model: torch.nn.Module, *,
                 coords: Literal["pixels", "normalized"] = "pixels", normalize: bool = True,
                 min_confidence: float = 0.0):
        check_choice(coords, self._COORDS, name="coords")
        try:
            model.eval()
        except NotImplementedError:  # torch.export's module(): already an inference graph
            pass
        self.model, self.coords = model, coords
        self.normalize, self.min_confidence = normalize, float(min_confidence)

    def _device(self) -> torch.device:
        p = next(iter(self.model.parameters()), None)
        return p.device if p is not None else torch.device("cpu")

    def detect(self, rows, images) -> Detections:
        b, s = check_shape(images, "B S S 3", name="images")["B"], images.shape[1]
        x = images.astype(np.float32) / 255.0
        if self.normalize:
            x = (x - np.float32(IMAGENET_MEAN)) / np.float32(IMAGENET_STD)
        x = torch.from_numpy(x).permute(0, 3, 1, 2).to(self._device())
        with torch.no_grad():
            out = self.model(x)
        conf = None
        if isinstance(out, (tuple, list)):
            out, conf = out[0], out[1]
        out = out.detach().float().cpu()
        c = check_shape(out, f"{b} 21 C", name="model output",
                        hint="The module must return (B, 21, 2) or (B, 21, 3) keypoints.")["C"]
        if c not in (2, 3):
            raise ValueError(f"model output: expected (B, 21, 2) or (B, 21, 3), got "
                             f"{tuple(out.shape)}.")
        kp = out[..., :2].numpy() * (s if self._COORDS[self.coords] else 1.0)
        if conf is None:
            conf = out[..., 2] if c == 3 else torch.ones(b)
        conf = torch.as_tensor(conf).detach().float().cpu().reshape(b, -1).mean(1).numpy()
        return _finalize(kp, conf, self.min_confidence)


class MediaPipeKeypoints(KeypointSource):
    """MediaPipe Hands (legacy `solutions.hands` graph, 0.10.21) in this process.

    `external.mediapipe.shared_hands` (one graph per setting, reused across batches); install:
    docs/predict.md, "MediaPipe". Keypoints are the first hand's landmarks in crop pixels
    (u = x_norm * S, handkit pixel convention); its confidence is the palm detector's score.
    MediaPipe's handedness is ignored here: the miner uses the file's `left_right`.

    Args:
        min_confidence: the palm detector's threshold (MediaPipe's
            `min_detection_confidence`).

    Raises:
        ValueError: mediapipe is not installed (the message says how to install it).
    """

    name = "mediapipe"

    def __init__(self, *, min_confidence: float = 0.5):
        self.min_confidence = float(min_confidence)
        self.hands = shared_hands(max_hands=1, min_detection=self.min_confidence)

    def detect(self, rows, images) -> Detections:
        b = check_shape(images, "B S S 3", name="images")["B"]
        kp = np.full((b, 21, 2), np.nan, np.float32)
        conf = np.zeros(b, np.float32)
        for j, image in enumerate(images):
            hands = self.hands.hands(image)
            if hands:  # max_hands=1: the crop's one hand
                (hand,) = hands
                kp[j], conf[j] = hand.keypoints, hand.score
        return _finalize(kp, conf, 0.0)
