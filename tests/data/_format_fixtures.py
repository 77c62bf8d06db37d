"""Small on-disk fixtures shared by the format tests (written by the test code, never downloaded)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np


def write_image(path: Path, color: tuple[int, int, int], size: tuple[int, int] = (32, 32)) -> np.ndarray:
    """Write a constant-colour RGB image (JPEG or PNG by suffix) and return the RGB array."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = np.empty((size[0], size[1], 3), np.uint8)
    rgb[:] = color
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return rgb


def write_json(path: Path, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))


def line_hand(offset: float = 0.0, depth: float = 0.5) -> np.ndarray:
    """21 points (x = 0.01·j + offset, y = 0.02, z = depth), meters: easy to project by hand."""
    xyz = np.zeros((21, 3))
    xyz[:, 0] = 0.01 * np.arange(21) + offset
    xyz[:, 1] = 0.02
    xyz[:, 2] = depth
    return xyz


K_SIMPLE = [[100.0, 0.0, 16.0], [0.0, 100.0, 16.0], [0.0, 0.0, 1.0]]


def interhand_index(j: int) -> int:
    """Hand-derived: handkit joint j -> InterHand index within one hand (tips first, wrist 20)."""
    if j == 0:
        return 20
    finger, level = divmod(j - 1, 4)  # level 0 = base
    return 4 * finger + 3 - level
