"""``pred.json`` for the FreiHAND and HO3D Codalab servers (specs/mesh.md §2.8).

The file is ``[xyz list, verts list]``: per sample a (21, 3) list of joints in meters, camera
frame, and a (V, 3) list of vertices (MANO's 778 for the servers' mesh scores).

- ``freihand``: joints in FreiHAND order (= handkit's), as predicted.
- ``ho3d``: joints in HO3D's order (MANO's 16 + tips, handkit's ``"mano"`` order) with y and z
  negated (HO3D's OpenGL-style camera). As S2HAND's ``trans_proj``, the **vertices are not
  flipped** (``flip_vertices=False``, faithful; Procrustes-aligned mesh scores are unaffected,
  the flip being a proper rotation); ``flip_vertices=True`` flips them as well.

`predict_pred_json` runs a mesh model (S2HAND) over a split. ``crop="whole"``: the whole image
resized to the model's side (K follows), as S2HAND's evaluation does on FreiHAND's 224-px
images. ``crop="ho3d"``: S2HAND's HO3D crop (`data.crop.s2hand_ho3d_crop`) around the meta's
``handBoundingBox`` (evaluation frames) or the labelled 2D (train frames), K' = T K, with the
released jitter (centre N(0, 5²) px, side / U(0.8, 0.9]) drawn per sample from
(`crop_seed`, index) so a run is repeatable; ``jitter=False`` crops without it. ``"auto"``:
ho3d for the HO3D format, else whole.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from handkit.data.crop import s2hand_ho3d_crop, warp_crop
from handkit.data.formats import detect_format, open_dataset
from handkit.data.formats._base import LOAD_ERRORS
from handkit.data.hands import resize_with_K
from handkit.hand.skeleton import convert
from handkit.models.checkpoint import load_model
from handkit.utils.check import check_choice, check_shape
from handkit.utils.files import write_json

__all__ = ["LAYOUTS", "HO3D_FLIP", "CROPS", "codalab_entries", "write_pred_json",
           "predict_pred_json", "model_input"]

LAYOUTS = {"freihand": "FreiHAND order, camera frame as predicted",
           "ho3d": "HO3D (MANO) order, y and z negated (OpenGL-style camera)"}
HO3D_FLIP = (1.0, -1.0, -1.0)
CROPS = {"auto": "ho3d for the HO3D format, else whole",
         "whole": "the whole image resized to the model's side",
         "ho3d": "S2HAND's HO3D crop around handBoundingBox (or the labelled 2D)"}


def codalab_entries(joints: np.ndarray, vertices: np.ndarray | None, layout: str = "freihand",
                    *, flip_vertices: bool = False) -> list:
    """The ``[xyz list, verts list]`` structure of ``pred.json``.

    Args:
        joints: (N, 21, 3) float, meters, camera frame (y down, z forward), handkit order.
        vertices: (N, V, 3) float, meters, camera frame, or None (an empty verts list per
            sample; the servers then score joints only).
        layout: `LAYOUTS`. flip_vertices: also negate y, z of the vertices for ``ho3d``.

    Returns:
        [N × 21 × 3 nested lists, N × V × 3 nested lists].
    """
    check_choice(layout, LAYOUTS, name="layout")
    n = check_shape(joints, "N 21 3", name="joints")["N"]
    xyz = np.asarray(joints, np.float64)
    verts = None if vertices is None else np.asarray(vertices, np.float64)
    if verts is not None:
        check_shape(verts, f"{n} V 3", name="vertices")
    if layout == "ho3d":
        flip = np.asarray(HO3D_FLIP)
        xyz = convert(xyz, "handkit", "mano") * flip
        if verts is not None and flip_vertices:
            verts = verts * flip
    return [xyz.tolist(), [[] for _ in range(n)] if verts is None else verts.tolist()]


def write_pred_json(path: str | Path, joints: np.ndarray, vertices: np.ndarray | None,
                    layout: str = "freihand", *, flip_vertices: bool = False) -> Path:
    """Write `codalab_entries` to `path` atomically (compact JSON, as the servers read it)."""
    path = Path(path)
    write_json(path, codalab_entries(joints, vertices, layout, flip_vertices=flip_vertices),
               indent=None)
    return path


def model_input(sample, size: int, crop: str, *, index: int = 0, crop_seed: int = 0,
                jitter: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One sample as the model sees it (module doc for `crop`, "whole" or "ho3d").

    Returns:
        (image (size, size, 3) uint8, K (3, 3) float64 of that image, T (3, 3) float64: source
        px → input px).

    Raises:
        ValueError: no K; for "ho3d", neither ``extras["bbox"]`` nor a labelled joint.
    """
    if sample.K is None:
        raise ValueError(f"{sample.sample_id}: no K; S2HAND predicts with the dataset's "
                         "intrinsics.")
    if crop == "whole":
        image, K, T = resize_with_K(sample.image, sample.K, size)
        return image, K, T
    if "bbox" in sample.extras:
        x0, y0, x1, y1 = np.asarray(sample.extras["bbox"], np.float64).reshape(4)
        points = np.array([[x0, y0], [x1, y1]])
    elif sample.joint_valid[0].any():
        points = sample.keypoints_2d[0][sample.joint_valid[0]]
    else:
        raise ValueError(f"{sample.sample_id}: neither handBoundingBox nor a labelled joint to "
                         "centre the HO3D crop on.")
    h, w = sample.image.shape[:2]
    rng = np.random.default_rng([crop_seed, index]) if jitter else None
    T = s2hand_ho3d_crop(points, h, w, size, rng=rng)
    return warp_crop(sample.image, T, size), T @ np.asarray(sample.K, np.float64), T


def predict_pred_json(ckpt: str | Path, data: str | Path, out: str | Path, *,
                      split: str = "evaluation", format: str = "auto",
                      layout: str | None = None, batch_size: int = 16, limit: int | None = None,
                      flip_vertices: bool = False, crop: str = "auto", crop_seed: int = 0,
                      jitter: bool = True) -> Path:
    """Run a checkpoint over a split and write its ``pred.json`` (module doc).

    Args:
        ckpt: a checkpoint of a model that predicts camera-frame meters (S2HAND).
        data: dataset folder. split: the evaluation split. format: `data.formats` or "auto".
        layout: `LAYOUTS`; None = the dataset format's own (freihand, ho3d).
        limit: the first `limit` samples only.
        crop: `CROPS`. crop_seed, jitter: the HO3D crop's jitter (module doc).

    Raises:
        ValueError: a model without absolute metric 3D, or a sample that cannot be read (the
            servers need one row per sample, so nothing is skipped).
    """
    check_choice(crop, CROPS, name="crop")
    net = load_model(ckpt)[0]
    if net.unit != "m" or net.frame != "camera":
        raise ValueError(f"{ckpt}: the model predicts {net.unit}, {net.frame}; pred.json needs "
                         f"camera-frame meters (e.g. an s2hand checkpoint).")
    fmt = detect_format(data) if format == "auto" else format
    layout = layout or ("ho3d" if fmt == "ho3d" else "freihand")
    crop = ("ho3d" if fmt == "ho3d" else "whole") if crop == "auto" else crop
    dataset = open_dataset(fmt, data, split)
    n = len(dataset) if limit is None else min(limit, len(dataset))
    size = net.cfg.image_size
    joints, verts = [], []
    for start in range(0, n, batch_size):
        images, Ks = [], []
        for i in range(start, min(n, start + batch_size)):
            try:
                sample = dataset[i]
            except LOAD_ERRORS as err:
                raise ValueError(f"{data}: sample {i}: {err} (pred.json needs every sample).")
            image, K, _ = model_input(sample, size, crop, index=i, crop_seed=crop_seed,
                                      jitter=jitter)
            images.append(torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1))
            Ks.append(torch.from_numpy(K).float())
        with torch.no_grad():
            pred = net.predict(net.preprocess(torch.stack(images)), torch.stack(Ks))
        joints += [hs[0].xyz.numpy() for hs in pred.hands]
        verts += [hs[0].vertices.numpy() for hs in pred.hands]
    return write_pred_json(out, np.stack(joints), np.stack(verts), layout,
                           flip_vertices=flip_vertices)
