"""Part masks for real InterHand2.6M from its MANO fits and the user's MANO files (§2.3).

For each image: ``InterHand2.6M_<split>_MANO_NeuralAnnot.json[capture][frame][hand]`` gives
``pose`` (48 axis-angle, the first 3 the global orientation; MANO joint order; relative to
``hands_mean``, smplx's ``use_pca=False, flat_hand_mean=False``), ``shape`` (10) and ``trans``
(3, meters), in the world frame. Each hand is posed with `hand.mano.MANO` of its own side (the
left file with its ``shapedirs`` fix, ``left_shapedirs="auto"``), moved to the camera frame
(``R (X − campos)``, mm → m), and both hands are rendered together by
`data.part_masks.render_part_seg` (nearest face per pixel centre) into
``segm_32/<split>/<file_name>.png`` in DIGIT's 33 classes at the image's resolution.

Validity (the render repository's ``mano_valid``): a mask is written only when the set of hands
with a fit equals the annotated ``hand_type`` (both for interacting, only that hand for right /
left); other frames are skipped with their reason counted, and the DIGIT loader then trains them
without the segmentation term (``segm_valid = 0``).

Differences from the official masks, said plainly: the official render seals the wrist with a
779th vertex and 16 faces and labels faces from ``sealed_faces.npy``; handkit renders MANO's 1,538
faces (the wrist opening shows the palm's inside, labelled palm) with each face's part from its
first vertex's dominant skinning joint (`hand.mano`'s ``parts``), so labels can differ along part
seams.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch

from handkit.data.formats._io import get_field, read_json, to_array
from handkit.data.formats.interhand import InterHand26M, world_to_camera
from handkit.data.part_masks import render_part_seg, to_digit_classes
from handkit.data.schema import SampleError
from handkit.hand.mano import MANO
from handkit.utils.files import write_image

__all__ = ["mano_vertices", "write_interhand_masks", "SIDES"]

SIDES = ("right", "left")
_EXPECTED = {"right": {"right"}, "left": {"left"}, "interacting": {"right", "left"}}


def mano_vertices(models: dict[str, MANO], fits: dict[str, Any], camrot: np.ndarray,
                  campos: np.ndarray, source: Path | str, field: str) -> np.ndarray:
    """Both hands' MANO vertices in the camera frame.

    Args:
        models: ``{"right": MANO(side="right"), "left": MANO(side="left")}``.
        fits: ``{"right": {"pose", "shape", "trans"} | None, "left": ...}`` (one frame).
        camrot: (3, 3) world → camera rotation; campos: (3,) camera centre, world mm.
        source, field: named in errors.

    Returns:
        (2, V, 3) float64 meters, camera frame, [right, left]; a hand without a fit is NaN.
    """
    out = []
    for side in SIDES:
        fit = fits.get(side)
        if fit is None:
            out.append(np.full((models[side].num_vertices, 3), np.nan))
            continue
        where = f"{field}.{side}"
        pose = to_array(get_field(fit, "pose", source, f"{where}.pose"), "48", source,
                        f"{where}.pose", dtype=np.float64)
        shape = to_array(get_field(fit, "shape", source, f"{where}.shape"), "10", source,
                         f"{where}.shape", dtype=np.float64)
        trans = to_array(get_field(fit, "trans", source, f"{where}.trans"), "3", source,
                         f"{where}.trans", dtype=np.float64)
        t = {k: torch.as_tensor(v[None]) for k, v in
             (("pose", pose), ("shape", shape), ("trans", trans))}
        with torch.no_grad():
            verts = models[side].forward_mano(t["pose"][:, :3], finger_aa=t["pose"][:, 3:],
                                              shape=t["shape"], handedness=side,
                                              transl=t["trans"]).vertices[0].double().numpy()
        out.append(world_to_camera(verts * 1000.0, camrot, campos) / 1000.0)
    return np.stack(out)


def write_interhand_masks(root: str | Path, split: str, mano_dir: str | Path, *,
                          limit: int | None = None, overwrite: bool = False
                          ) -> tuple[int, Counter]:
    """Render ``segm_32/<split>/...png`` for every image of `split` with valid MANO fits.

    Args:
        root: the InterHand2.6M folder (``annotations/<split>/..._MANO_NeuralAnnot.json``).
        split: "train", "val" or "test".
        mano_dir: the folder holding the user's ``MANO_RIGHT.pkl`` and ``MANO_LEFT.pkl``.
        limit: only the first `limit` images.
        overwrite: re-render masks that exist (default: keep them, so a run resumes).

    Returns:
        (masks written, Counter of skip reasons).
    """
    ds = InterHand26M(root, split)
    src = Path(root) / "annotations" / split / f"InterHand2.6M_{split}_MANO_NeuralAnnot.json"
    fits = read_json(src, "InterHand2.6M MANO fits")
    models = {side: MANO(mano_dir, side=side, dtype=torch.float64) for side in SIDES}
    written, skipped = 0, Counter()
    n = len(ds) if limit is None else min(limit, len(ds))
    for i in range(n):
        img, ann = ds.items[i]
        out = (Path(root) / "segm_32" / split / img["file_name"]).with_suffix(".png")
        if out.exists() and not overwrite:
            continue
        capture, cam = ds.capture_camera(i)
        frame = str(int(img["frame_idx"]))
        per_frame = fits.get(capture, {}).get(frame)
        if per_frame is None:
            skipped["no MANO fit for the frame"] += 1
            continue
        have = {side for side in SIDES if per_frame.get(side) is not None}
        if have != _EXPECTED[ann["hand_type"]]:
            skipped[f"fits {sorted(have)} do not match hand_type {ann['hand_type']}"] += 1
            continue
        camrot, campos, K = ds.camera(capture, cam)
        try:
            verts = mano_vertices(models, per_frame, camrot, campos, src,
                                  f"[{capture!r}][{frame!r}]")
        except SampleError as err:
            skipped[str(err).split(": ", 1)[-1][:80]] += 1
            continue
        size = (int(img["height"]), int(img["width"]))
        labels = render_part_seg(verts, models["right"].faces.numpy(),
                                 models["right"].parts.numpy(), K, size)
        out.parent.mkdir(parents=True, exist_ok=True)
        write_image(out, to_digit_classes(labels))
        written += 1
    return written, skipped
