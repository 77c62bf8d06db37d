"""Contact sheet of synthetic samples with 2D keypoints and skeletons drawn, for a person."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from handkit.hand.skeleton import BONES
from handkit.utils.files import write_image

__all__ = ["contact_sheet", "draw_hand"]

_FINGER_BGR = ((60, 60, 230), (40, 160, 240), (60, 200, 60), (220, 160, 40), (200, 60, 200))


def draw_hand(image: np.ndarray, uv: np.ndarray, visible: np.ndarray, scale: float = 1.0) -> None:
    """Draw one hand's skeleton in place on a BGR uint8 image.

    Args:
        uv: (21, 2) pixels of the original image, handkit order; `scale` maps them to `image`.
        visible: (21,) bool; visible joints are filled dots, hidden ones hollow.
    """
    pts = np.asarray(uv, dtype=np.float64) * scale
    for parent, child in BONES:
        color = _FINGER_BGR[(child - 1) // 4]
        a, b = pts[parent], pts[child]
        cv2.line(image, (int(a[0] * 16), int(a[1] * 16)), (int(b[0] * 16), int(b[1] * 16)), color,
                 1, cv2.LINE_AA, 4)
    for j, (p, vis) in enumerate(zip(pts, visible)):
        color = (255, 255, 255) if j == 0 else _FINGER_BGR[(j - 1) // 4]
        cv2.circle(image, (int(p[0] * 16), int(p[1] * 16)), 2 * 16, color, -1 if vis else 1,
                   cv2.LINE_AA, 4)


def contact_sheet(root: Path, items: list[dict], path: Path, cols: int = 6, rows: int = 4,
                  tile: int = 160) -> Path:
    """Write a PNG grid of up to cols × rows samples (image files relative to `root`)."""
    tiles = []
    for item in items[: cols * rows]:
        img = cv2.imread(str(root / item["image"]), cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"preview: cannot read {root / item['image']}.")
        s = tile / max(img.shape[:2])
        img = cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)),
                         interpolation=cv2.INTER_AREA)
        canvas = np.zeros((tile, tile, 3), np.uint8)
        canvas[: img.shape[0], : img.shape[1]] = img
        for uv, vis in zip(item["uv"], item["visible"]):
            draw_hand(canvas, np.array(uv), np.array(vis, bool), s)
        tiles.append(canvas)
    while len(tiles) % cols:
        tiles.append(np.zeros((tile, tile, 3), np.uint8))
    grid = np.concatenate([np.concatenate(tiles[r: r + cols], 1)
                           for r in range(0, len(tiles), cols)], 0)
    return write_image(path, grid, [cv2.IMWRITE_PNG_COMPRESSION, 9])
