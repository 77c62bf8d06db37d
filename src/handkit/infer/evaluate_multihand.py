"""Run a multi-hand model (SMHR) over a labelled dataset and score its detections.

Each image goes through the model's test input (`data.smhr_inputs.SMHRItems` without
augmentation: the whole image, longer side to the network size), the model's `predict` decodes
its hands, and `eval.multihand` scores them against every labelled hand in the same input
pixels: detection AP / precision / recall at a keypoint-similarity threshold, handedness
accuracy and mean 2D error on the Hungarian-matched pairs, and PA-MPJPE on the matched pairs
when the data has 3D (the prediction's joints against the label's, similarity-aligned, so the
fixed camera's non-metric depth does not matter). Optionally SMHR's own reading at the labelled
centres (no detection) and a gallery of every hand's mesh, box and handedness.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from handkit.data.hands import collate_items
from handkit.data.smhr_inputs import SMHRItems
from handkit.eval.metrics import pa_mpjpe
from handkit.eval.multihand import (ImageHands, detection_ap, handedness_accuracy,
                                    keypoint_similarity, match_hands)
from handkit.eval.plots import GalleryImage, image_mesh, multi_hand_gallery
from handkit.utils.files import output_file

__all__ = ["evaluate_multihand"]


def _labels(batch: dict, i: int) -> tuple[ImageHands, np.ndarray]:
    real = batch["slot"][i].numpy()
    gt = ImageHands(batch["uv"][i].numpy()[real].astype(np.float64),
                    batch["is_right"][i].numpy()[real], valid=batch["valid"][i].numpy()[real])
    return gt, batch["xyz"][i].numpy()[real]


def _gallery_item(image: Tensor, hands: Sequence[Any], faces: Tensor | None,
                  K: Callable[[], Tensor], gt: ImageHands) -> GalleryImage:
    """One image's predicted hands (meshes through the network's camera, `K()` (3, 3)) and
    labels."""
    meshes = []
    for h in hands:
        if h.vertices is None or faces is None:
            meshes.append(None)
            continue
        f = faces.numpy()  # the right hand's; a left hand is its mirror: faces wound back
        meshes.append(image_mesh(h.vertices.double().numpy(), f if h.is_right else f[:, ::-1],
                                 K().double().numpy()))
    return GalleryImage(image.permute(1, 2, 0).numpy(), [h.uv.double().numpy() for h in hands],
                        [h.is_right for h in hands], [h.score for h in hands], meshes,
                        gt_uv=list(gt.uv), title=f"{len(hands)} found / {len(gt)} labelled")


def evaluate_multihand(net: Any, dataset: Any, *, max_objs: int = 8, batch_size: int = 8,
                       threshold: float = 0.5, kappa: float = 0.1,
                       center: str = "mean", ap_thresholds: Sequence[float] = (),
                       gt_centres: bool = False, gallery: str | Path | None = None,
                       gallery_images: int = 8) -> dict[str, Any]:
    """Score `net` on `dataset` (module doc).

    Args:
        net: a model with ``image_size``, ``preprocess`` and ``predict`` returning a
            `models.prediction.Prediction` (SMHR). A model with ``uses_K`` gets each input's K.
        dataset: `Sample`s with every hand labelled (the synthetic multihand world, composed
            images, ...).
        max_objs: labelled hands read per image (more are ignored, and said so by ``num_gt``).
        threshold, kappa: of `eval.multihand.keypoint_similarity`.
        center: the centre rule of the targets (only ``T``, the centre cells and the labels
            are used here).
        ap_thresholds: further KS thresholds whose detection AP is reported as ``ap@T``.
        gt_centres: also read the network at every labelled hand's centre cell (SMHR's
            protocol, no detection; needs ``read_cells`` and ``camera_K``): ``gtc_uv_px``,
            ``gtc_ks`` (mean KS), ``gtc_pa_mpjpe_mm``, ``gtc_handedness`` over every labelled
            hand (``gtc_hands``).
        gallery: a PNG path: the first `gallery_images` images with every predicted hand's
            mesh, box, handedness and score and the labels' skeletons
            (`eval.plots.multi_hand_gallery`). Its path is returned as ``gallery``.

    Returns:
        dict: ``ap``, ``precision``, ``recall``, ``num_pred``, ``num_gt``, ``handedness``,
        ``matched``, ``uv_px`` (mean 2D error of matched hands' valid joints), ``ks`` (their
        mean KS), ``pa_mpjpe_mm`` (NaN without 3D labels), ``images``, ``bad`` (samples that
        could not be read), and the optional keys above.
    """
    if gallery is not None:
        output_file(gallery)
    items = SMHRItems(dataset, size=net.image_size, max_objs=max_objs, mode="whole",
                      center=center, augment=False)
    loader = DataLoader(items, batch_size=batch_size, shuffle=False, collate_fn=collate_items)
    preds, gts, errors, pa, ks = [], [], [], [], []
    gtc: dict[str, list] = {"uv": [], "ks": [], "pa": [], "side": []}
    shown: list[GalleryImage] = []
    bad = 0
    uses_K = bool(getattr(net, "uses_K", False))
    net.eval()
    for batch in loader:
        bad += len(batch["bad"])
        if "image" not in batch:
            continue
        images = net.preprocess(batch["image"])
        K = batch["K"] if uses_K else None
        with torch.no_grad():
            prediction = net.predict(images, K) if uses_K else net.predict(images)
            cells = net.read_cells(net(images), batch["ind"], net.camera_K(images, K)) \
                if gt_centres else None
        for i, hands in enumerate(prediction.hands):
            gt, gt_xyz = _labels(batch, i)
            uv = np.stack([h.uv.numpy() for h in hands]) if hands else np.zeros((0, 21, 2))
            pred = ImageHands(uv.astype(np.float64), np.array([h.is_right for h in hands], bool),
                              score=np.array([h.score for h in hands], np.float64))
            preds.append(pred)
            gts.append(gt)
            has_xyz = bool(batch["has_xyz"][i])
            m = match_hands(pred, gt, threshold=threshold, kappa=kappa)
            ks.extend(m.similarity.tolist())
            for p, g in zip(m.pred, m.gt):
                ok = gt.joint_valid()[g]
                errors.append(np.linalg.norm(pred.uv[p] - gt.uv[g], axis=-1)[ok])
                if has_xyz:
                    xyz = hands[p].xyz.double()[None]
                    label = torch.from_numpy(gt_xyz[g]).double()[None]
                    pa.append(float(pa_mpjpe(xyz, label, torch.from_numpy(ok)[None])))
            if cells is not None:
                _gt_centre_hands(cells, batch, i, gt, gt_xyz, has_xyz, kappa, gtc)
            if gallery is not None and len(shown) < gallery_images:
                camera = (lambda i=i: net.camera_K(images[i:i + 1],
                                                   None if K is None else K[i:i + 1])[0])
                shown.append(_gallery_item(batch["image"][i], hands, prediction.faces, camera,
                                           gt))
    out: dict[str, Any] = dict(detection_ap(preds, gts, threshold=threshold, kappa=kappa))
    for t in ap_thresholds:
        out[f"ap@{t:g}"] = detection_ap(preds, gts, threshold=t, kappa=kappa)["ap"]
    side = handedness_accuracy(preds, gts, threshold=threshold, kappa=kappa)
    out.update(handedness=side["accuracy"], matched=side["matched"],
               uv_px=float(np.concatenate(errors).mean()) if errors else float("nan"),
               ks=float(np.mean(ks)) if ks else float("nan"),
               pa_mpjpe_mm=1000 * float(np.mean(pa)) if pa else float("nan"),
               images=len(preds), bad=bad)
    if gt_centres:
        nan = float("nan")
        out.update(gtc_uv_px=float(np.concatenate(gtc["uv"]).mean()) if gtc["uv"] else nan,
                   gtc_ks=float(np.mean(gtc["ks"])) if gtc["ks"] else nan,
                   gtc_pa_mpjpe_mm=1000 * float(np.mean(gtc["pa"])) if gtc["pa"] else nan,
                   gtc_handedness=float(np.mean(gtc["side"])) if gtc["side"] else nan,
                   gtc_hands=len(gtc["ks"]))
    if gallery is not None and shown:
        out["gallery"] = str(multi_hand_gallery(shown, gallery))
    return out


def _gt_centre_hands(cells: dict, batch: dict, i: int, gt: ImageHands, gt_xyz: np.ndarray,
                     has_xyz: bool, kappa: float, acc: dict[str, list]) -> None:
    """Image `i`'s labelled hands against the network read at their own centre cells."""
    s = batch["ind"].shape[1]
    real = np.flatnonzero(batch["slot"][i].numpy())
    rows = i * s + real
    uv = cells["uv"][rows].double().numpy()
    valid = gt.joint_valid()
    for k in range(len(real)):
        ok = valid[k]
        acc["uv"].append(np.linalg.norm(uv[k] - gt.uv[k], axis=-1)[ok])
        acc["ks"].append(float(keypoint_similarity(uv[k][None], gt.uv[k][None], ok[None],
                                                   kappa=kappa)[0, 0]))
        acc["side"].append(bool(cells["is_right"][i, real[k]]) == bool(gt.is_right[k]))
        if has_xyz:
            acc["pa"].append(float(pa_mpjpe(cells["joints"][rows[k]].double()[None],
                                            torch.from_numpy(gt_xyz[k]).double()[None],
                                            torch.from_numpy(ok)[None])))
