"""Items for S2HAND: whole images with their K and 2D keypoint detections (specs/mesh.md §2.7).

An item is the dataset image resized to the model's side (K follows: K' = S K), its 2D
detections with confidences, and (for reporting only, never a training signal) the labelled
2D and 3D. Left hands are mirrored to right ones (`data.hands.prepare_hand`; detections too).

**Where the detections come from** (``keypoints``):

- ``"labels"``: the dataset's own 2D labels with Gaussian noise of ``noise_px`` (px) and a
  fraction ``dropout`` of the joints dropped (confidence 0), drawn once per sample from
  (``noise_seed``, index): fixed across epochs, as a detector run once over the dataset
  (the synthetic world's stand-in for OpenPose). Unlabelled joints have confidence 0.
- ``"file"``: a JSON file in S2HAND's layout (``openpose_v2/training/detect_all.json``):
  ``[keypoints (N × 21 × 2), confidences (N × 21 or N × 21 × 1), names]``, row i = sample i
  of the split, handkit (= OpenPose) order. OpenPose's peaks are pixel indices, so
  ``pixel_offset`` (0.5) moves them to handkit's pixel centres; a joint at (0, 0) with
  confidence 0 is missing. A model or MediaPipe (`mining.detect2d`) writes such a file once.

**Bad input.** A detection with NaN or a zero confidence is masked downstream
(`losses.s2hand.clean_detections`); a sample whose every joint is missing is skipped and
counted by the loss. An image whose K puts the principal point outside it (K of another
resolution) fails, naming the sample.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from handkit.data.formats._base import LOAD_ERRORS
from handkit.data.hands import prepare_hand, resize_with_K
from handkit.utils.check import check_choice

__all__ = ["S2HandDataConfig", "S2HandItems", "read_detections", "KEYPOINT_SOURCES"]

KEYPOINT_SOURCES = {"labels": "the dataset's 2D labels with noise and dropout",
                    "file": "a JSON file of detections in S2HAND's layout"}


@dataclass(frozen=True)
class S2HandDataConfig:
    """Attributes:
        root: dataset folder. format: a `data.formats` name or "auto". split: training split.
        val_split: a split to validate on (2D errors against its labels), or "" for none.
        keypoints: `KEYPOINT_SOURCES`. detections: the JSON file (``keypoints: file``).
        pixel_offset: added to the file's coordinates (px).
        noise_px: σ of the labels' Gaussian noise, px. dropout: fraction of joints dropped.
        noise_seed: seed of the noise and dropout draws.
        batch_size: per step (official 64; SSL-e2e 32). num_workers: loader processes.
    """

    root: str = ""
    format: str = "auto"
    split: str = "train"
    val_split: str = ""
    keypoints: Literal["labels", "file"] = "labels"
    detections: str = ""
    pixel_offset: float = 0.5
    noise_px: float = 0.0
    dropout: float = 0.0
    noise_seed: int = 0
    batch_size: int = 32
    num_workers: int = 2


def read_detections(path: str | Path, n: int, pixel_offset: float = 0.5
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Read S2HAND's detection JSON: ``(keypoints (n, 21, 2) px, confidences (n, 21))``.

    Raises:
        FileNotFoundError: no such file. ValueError: wrong layout or row count (names the file
            and the field).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data.detections: no such file: {path}")
    try:
        data = json.loads(path.read_text())
        kp = np.asarray(data[0], dtype=np.float64)
        conf = np.asarray(data[1], dtype=np.float64)
    except (ValueError, TypeError, IndexError, KeyError) as err:
        raise ValueError(f"{path}: not S2HAND's detection layout [keypoints, confidences, "
                         f"names] ({err}).") from None
    if conf.ndim == 3 and conf.shape[-1] == 1:
        conf = conf[..., 0]
    if kp.shape[1:] != (21, 2):
        raise ValueError(f"{path}: keypoints: expected (N, 21, 2), got {kp.shape}.")
    if conf.shape != kp.shape[:2]:
        raise ValueError(f"{path}: confidences: expected {kp.shape[:2]}, got {conf.shape}.")
    if len(kp) != n:
        raise ValueError(f"{path}: {len(kp)} rows of detections for {n} samples of the split; "
                         f"row i must be sample i.")
    return kp + pixel_offset, conf


def _check_K(K: np.ndarray, height: int, width: int, sample_id: str) -> None:
    cx, cy = float(K[0, 2]), float(K[1, 2])
    if not (0 < cx < width and 0 < cy < height):
        raise ValueError(f"{sample_id}: K's principal point ({cx:.1f}, {cy:.1f}) lies outside "
                         f"the {width}x{height} image; is this K for another resolution?")


class S2HandItems(Dataset):
    """Item i → dict(image (3, S, S) uint8, K (3, 3), det (21, 2) px (NaN missing), conf (21,),
    uv_gt (21, 2) px (NaN unlabelled), xyz_gt (21, 3) m (NaN unknown), index ()), or
    {"bad": reason} for a sample that cannot be loaded.

    Args:
        dataset: a `data.formats` dataset. cfg: the data config. image_size: S.
    """

    def __init__(self, dataset: Dataset, cfg: S2HandDataConfig, image_size: int):
        check_choice(cfg.keypoints, KEYPOINT_SOURCES, name="data.keypoints")
        if not 0 <= cfg.dropout < 1 or cfg.noise_px < 0:
            raise ValueError(f"data.dropout: expected [0, 1), data.noise_px >= 0; got "
                             f"{cfg.dropout}, {cfg.noise_px}.")
        self.dataset, self.cfg, self.size = dataset, cfg, image_size
        self.file = None
        if cfg.keypoints == "file":
            if not cfg.detections:
                raise ValueError("data.detections: empty; keypoints 'file' needs the JSON file.")
            self.file = read_detections(cfg.detections, len(dataset), cfg.pixel_offset)

    def __len__(self) -> int:
        return len(self.dataset)

    def _detections(self, i: int, uv: np.ndarray, valid: np.ndarray, mirrored: bool,
                    width: int) -> tuple[np.ndarray, np.ndarray]:
        if self.file is not None:
            det, conf = self.file[0][i].copy(), self.file[1][i].copy()
            if mirrored:
                det[:, 0] = width - det[:, 0]
            return det, conf
        rng = np.random.default_rng([self.cfg.noise_seed, 7, i])
        det = uv + rng.normal(0.0, self.cfg.noise_px, uv.shape) if self.cfg.noise_px else uv.copy()
        keep = valid & (rng.uniform(size=21) >= self.cfg.dropout)
        det[~keep] = np.nan
        return det, keep.astype(np.float64)

    def __getitem__(self, i: int) -> dict:
        try:
            sample = self.dataset[i]
            hand = prepare_hand(sample, min_valid=1)
            if hand["K"] is None:
                raise ValueError(f"{sample.sample_id}: no K; S2HAND projects with the dataset's "
                                 "intrinsics.")
        except LOAD_ERRORS as err:
            return {"bad": f"{type(err).__name__}: {err}"}
        image = hand["image"]
        h, w = image.shape[:2]
        _check_K(hand["K"], h, w, sample.sample_id)
        det, conf = self._detections(i, hand["uv"], hand["valid"], not hand["is_right"], w)
        image, K, S = resize_with_K(image, hand["K"], self.size)
        uv_gt = np.where(hand["valid"][:, None], hand["uv"], np.nan)
        xyz = np.full((21, 3), np.nan) if hand["xyz"] is None else \
            np.where(hand["valid"][:, None], hand["xyz"], np.nan)
        scale2 = S[:2, :2].diagonal()
        return {"image": torch.from_numpy(image).permute(2, 0, 1).contiguous(),
                "K": torch.from_numpy(K).float(),
                "det": torch.from_numpy(det * scale2).float(),
                "conf": torch.from_numpy(conf).float(),
                "uv_gt": torch.from_numpy(uv_gt * scale2).float(),
                "xyz_gt": torch.from_numpy(xyz).float(),
                "index": torch.tensor(i)}
