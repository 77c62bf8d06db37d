"""Writers of the synthetic world in the real datasets' on-disk layouts.

Each writer makes one sample at a time (`make`: render, write its image files unless they
exist, return a JSON-ready label record) and assembles the annotation files at the end
(`finalize`, records in index order). The readers in `data/formats/` read the result exactly
as the real datasets. Layouts: docs/synth.md.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np

from handkit.data.synth.scenes import Scene, freihand_scene, rng_for

__all__ = ["Writer", "FreiHANDWriter", "WRITERS", "save_jpeg", "write_json", "preview_item"]

_QUALITY_STREAM = 9  # rng stream of the JPEG quality draws


def save_jpeg(path: Path, image: np.ndarray, quality: int) -> None:
    """Write `image` ((H, W, 3) RGB or (H, W) gray uint8) as JPEG unless `path` exists (resume)."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    data = image[..., ::-1] if image.ndim == 3 else image
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(data), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"could not encode {path} as JPEG.")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(buf.tobytes())
    os.replace(tmp, path)


def write_json(path: Path, obj) -> None:
    """Write compact JSON atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, separators=(",", ":")))
    os.replace(tmp, path)


def _r(x, decimals: int) -> list:
    return np.round(np.asarray(x, dtype=np.float64), decimals).tolist()


def _quality(seed: int, index: int) -> int:
    return int(rng_for(seed, _QUALITY_STREAM, index).integers(70, 96))


def preview_item(image: str, scene: Scene) -> dict:
    """What the contact sheet needs: the image path and every hand's 2D keypoints/visibility."""
    return {"image": image, "uv": [_r(h.uv, 2) for h in scene.hands],
            "visible": [h.visible.astype(int).tolist() for h in scene.hands],
            "handedness": [h.state.handedness for h in scene.hands]}


class Writer:
    """One dataset layout. Subclasses set the class attributes and implement make/finalize."""

    default_size: int = 224
    size_range: tuple[int, int] = (32, 1024)
    layout: str = ""

    @staticmethod
    def make(out: Path, seed: int, index: int, size: int, n: int) -> dict:
        raise NotImplementedError

    @staticmethod
    def finalize(out: Path, records: list[dict], seed: int) -> None:
        raise NotImplementedError


def freihand_split(index: int, n: int) -> tuple[str, int]:
    """FreiHAND split of global sample `index` among `n`: the last n // 8 are ``evaluation``
    (FreiHAND's ratio is 3960 / 32560); returns (split, index within the split)."""
    n_eval = n // 8
    n_train = n - n_eval
    return ("training", index) if index < n_train else ("evaluation", index - n_train)


class FreiHANDWriter(Writer):
    """FreiHAND v2 layout: ``training/rgb/%08d.jpg``, ``training/mask/%08d.jpg``,
    ``training_{xyz,K,scale,verts}.json``, ``evaluation/rgb/%08d.jpg``,
    ``evaluation_{xyz,K,scale,verts}.json``. One image per annotation (the real training set
    has 4 appearance variants per annotation: readers index annotations with ``i % len(xyz)``,
    which is the identity here). ``scale`` is the middle MCP–PIP bone length (joints 9–10),
    meters; ``verts`` are OpenHand vertices (not MANO's 778)."""

    default_size = 224
    layout = "FreiHAND v2 (training/, evaluation/, *_xyz/K/scale/verts.json)"

    @staticmethod
    def make(out: Path, seed: int, index: int, size: int, n: int) -> dict:
        split, local = freihand_split(index, n)
        scene = freihand_scene(seed, index, size)
        hand = scene.hands[0]
        name = f"{split}/rgb/{local:08d}.jpg"
        save_jpeg(out / name, scene.image, _quality(seed, index))
        if split == "training":
            save_jpeg(out / f"training/mask/{local:08d}.jpg", scene.mask.astype(np.uint8) * 255, 95)
        xyz = hand.state.joints
        return {"split": split, "xyz": _r(xyz, 6), "K": _r(scene.K, 4),
                "scale": round(float(np.linalg.norm(xyz[9] - xyz[10])), 6),
                "verts": _r(hand.state.vertices, 5), "_preview": preview_item(name, scene)}

    @staticmethod
    def finalize(out: Path, records: list[dict], seed: int) -> None:
        for split in ("training", "evaluation"):
            rows = [r for r in records if r["split"] == split]
            for key in ("xyz", "K", "scale", "verts"):
                write_json(out / f"{split}_{key}.json", [r[key] for r in rows])


WRITERS: dict[str, type[Writer]] = {"freihand": FreiHANDWriter}
