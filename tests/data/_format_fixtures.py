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


def _color(version: int, label: int) -> tuple[int, int, int]:
    return (40 + 60 * version, 30 + 80 * label, 200)


def make_freihand(root, n=3, versions=4, evaluation=None):
    """FreiHAND_pub_v2 layout with N labels; label k's hand is shifted by 0.01·k in x."""
    for v in range(versions):
        for k in range(n):
            write_image(root / "training" / "rgb" / f"{v * n + k:08d}.jpg", _color(v, k))
    for k in range(n):
        mask = np.zeros((32, 32, 3), np.uint8)
        mask[:, : 10 + k] = 255
        write_image(root / "training" / "mask" / f"{k:08d}.jpg", (0, 0, 0))
        cv2.imwrite(str(root / "training" / "mask" / f"{k:08d}.jpg"), mask)
    write_json(root / "training_xyz.json", [line_hand(0.01 * k).tolist() for k in range(n)])
    write_json(root / "training_K.json", [K_SIMPLE] * n)
    write_json(root / "training_scale.json", [0.028 + 0.001 * k for k in range(n)])
    write_json(root / "training_mano.json", [[[0.1 * k] * 61] for k in range(n)])
    write_json(root / "training_verts.json", [np.full((778, 3), 0.5).tolist()] * n)
    for k in range(2):
        write_image(root / "evaluation" / "rgb" / f"{k:08d}.jpg", (10, 20, 30))
    write_json(root / "evaluation_K.json", [K_SIMPLE] * 2)
    write_json(root / "evaluation_scale.json", [0.03] * 2)
    if evaluation is not None:
        write_json(evaluation / "evaluation_xyz.json", [line_hand(0.0).tolist()] * 2)
    return root
