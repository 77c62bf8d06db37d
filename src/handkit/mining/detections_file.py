"""A file of 2D detections for a whole split, in S2HAND's layout (docs/s2hand.md).

`detect_split` runs any `mining.detect2d.KeypointSource` (a handkit 2D model, MediaPipe, or
labels) over every image of a split and writes ``[keypoints (N × 21 × 2), confidences
(N × 21 × 1), names]`` (S2HAND's ``openpose_v2/training/detect_all.json``), row i = sample i.

**Convention:** the file keeps S2HAND's (OpenPose's) pixel-index coordinates, i.e. handkit's
pixels − 0.5, so the s2hand data reader's default ``pixel_offset`` 0.5 restores them exactly. A
hand not found is written as S2HAND writes a missing joint: (0, 0) with confidence 0. The
sources give one confidence per hand; it is written for each of its 21 joints.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from handkit.data.formats import detect_format, open_dataset
from handkit.mining.detect2d import KeypointSource
from handkit.utils.files import write_json

__all__ = ["detect_split", "S2HAND_PIXEL_OFFSET"]

S2HAND_PIXEL_OFFSET = 0.5
"""handkit pixel = OpenPose/S2HAND pixel index + 0.5."""


def detect_split(data: str | Path, split: str, source: KeypointSource, out: str | Path, *,
                 format: str = "auto", size: int | None = None, batch_size: int = 16,
                 limit: int | None = None) -> Path:
    """Detect the hand of every image of a split and write the file (module doc).

    Args:
        data: dataset folder. split: e.g. "training". source: the 2D detector.
        format: `data.formats` name or "auto".
        size: the square side the detector sees (images are resized to it and the keypoints
            mapped back); None = the images' own side (they must then be square).
        limit: the first `limit` samples only.

    Returns:
        `out`.

    Raises:
        ValueError: a non-square image without `size`; a sample that cannot be read (every row
            must be sample i).
    """
    fmt = detect_format(data) if format == "auto" else format
    dataset = open_dataset(fmt, data, split)
    n = len(dataset) if limit is None else min(limit, len(dataset))
    kps, confs, names = [], [], []
    for start in range(0, n, batch_size):
        rows = np.arange(start, min(n, start + batch_size))
        images, scales = [], []
        for i in rows:
            sample = dataset[int(i)]
            h, w = sample.image.shape[:2]
            side = size or h
            if size is None and h != w:
                raise ValueError(f"{sample.sample_id}: {w}x{h} is not square; give size=S "
                                 "(the detector's side).")
            image = sample.image if (h, w) == (side, side) else \
                cv2.resize(sample.image, (side, side), interpolation=cv2.INTER_AREA)
            images.append(image)
            scales.append((w / side, h / side))
            names.append(sample.sample_id)
        det = source.detect(rows, np.stack(images))
        kp = det.keypoints.astype(np.float64) * np.asarray(scales)[:, None, :]
        found = det.found & np.isfinite(kp).all((1, 2))
        kp = np.where(found[:, None, None], kp - S2HAND_PIXEL_OFFSET, 0.0)
        conf = np.where(found, det.confidence, 0.0)
        kps.append(kp)
        confs.append(np.repeat(conf[:, None, None], 21, axis=1))
    return write_json(out, [np.concatenate(kps).tolist(), np.concatenate(confs).tolist(), names],
                      indent=None)
