"""`evaluate`: a fine-tuned model on a labelled test split → the standard table, JSON and figures.

**Pipeline** (PeCLR's FreiHAND test script, specs/pretrain.md §3.1): left hands are mirrored to
right hands (distances are mirror-invariant, so metrics need no un-mirroring); ``crop="two_pass"``
starts from a centred box of side 0.33 · min(H, W) and re-crops around the predicted 2D
(official for FreiHAND, whose hands are centred); ``crop="gt_box"`` crops once around the
ground-truth 2D box (DexYCB/AssemblyHands practice); ``"auto"`` picks two_pass for FreiHAND.

**From bone units to meters.** rn25d predicts camera-frame 3D in units of the middle MCP–PIP
bone: it is multiplied by the sample's ``scale`` (FreiHAND gives ``evaluation_scale.json`` as a
test input) or, without one, by the ground-truth length of that bone. detnet predicts
wrist-relative 3D in wrist–middle-MCP units: it is scaled by the ground-truth bone and placed
at the ground-truth wrist (minimal-hand's ``global_align``), so its "unaligned" MPJPE is
root-and-scale aligned by construction.

**Metrics** (names and definitions are written into the report): see `DEFINITIONS`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from handkit.data.crop import centre_box, keypoint_box
from handkit.data.formats import detect_format, open_dataset
from handkit.data.formats._base import LOAD_ERRORS
from handkit.data.schema import SampleError
from handkit.eval.metrics import PCK_PRESETS, joint_errors, mpjpe, pck_curve
from handkit.eval.report import EvalReport, evaluate_keypoints
from handkit.geometry.align import procrustes
from handkit.infer.model_io import load_posenet
from handkit.infer.pipeline import predict_on_boxes
from handkit.tasks.finetune_data import prepare_hand
from handkit.tasks.finetune_model import PoseNet
from handkit.utils.check import check_choice

__all__ = ["evaluate", "score_predictions", "to_meters", "summary_lines", "DEFINITIONS", "CROPS"]

CROPS = ("auto", "two_pass", "gt_box")

DEFINITIONS = {
    "mpjpe_mm": "mean Euclidean joint error in mm, camera frame, no alignment (FreiHAND "
                "leaderboard 'unaligned'; detnet: after GT root + scale, see docs)",
    "pa_mpjpe_mm": "mean joint error in mm after a per-hand similarity Procrustes alignment "
                   "(rotation, translation, scale) on the GT (FreiHAND leaderboard 'aligned')",
    "rr_mpjpe_mm": "root-relative: mean joint error in mm after moving the predicted wrist onto "
                   "the GT wrist",
    "rs_mpjpe_mm": "root + scale aligned (minimal-hand global_align): wrist onto the GT wrist, "
                   "scaled so wrist-middle-MCP matches the GT, no rotation",
    "auc": "area under the PCK curve of the unaligned errors, normalised by the threshold "
           "range (preset thresholds, see 'pck')",
    "pa_auc": "the same for the Procrustes-aligned errors",
    "pck@20mm": "fraction of joints within 20 mm (inclusive), unaligned",
    "pa_pck@20mm": "fraction of joints within 20 mm (inclusive), Procrustes-aligned",
    "mpjpe_2d_px": "mean 2D joint error in pixels of the original image",
}


def to_meters(net: PoseNet, xyz: np.ndarray, gt: np.ndarray, scale: np.ndarray | None
              ) -> np.ndarray:
    """The model's bone-unit 3D → meters (module docstring).

    Args:
        xyz: (B, 21, 3) model output. gt: (B, 21, 3) meters. scale: (B,) meters or None.
    """
    a, b = net.bone_index
    gt_bone = np.linalg.norm(gt[:, b] - gt[:, a], axis=-1)
    if net.kind.absolute:
        s = gt_bone if scale is None else np.where(np.isfinite(scale), scale, gt_bone)
        return xyz * s[:, None, None]
    return (xyz - xyz[:, :1]) * gt_bone[:, None, None] + gt[:, :1]


def _align_root_scale(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """minimal-hand ``global_align``: pred's wrist onto gt's, scaled by ‖gt9−gt0‖/‖pred9−pred0‖."""
    s = (np.linalg.norm(gt[:, 9] - gt[:, 0], axis=-1)
         / np.maximum(np.linalg.norm(pred[:, 9] - pred[:, 0], axis=-1), 1e-12))
    return (pred - pred[:, :1]) * s[:, None, None] + gt[:, :1]


def _batches(dataset, indices, batch_size, report_bad):
    batch = []
    for i in indices:
        try:
            sample = dataset[i]
            hand = prepare_hand(sample, min_valid=1)
            if hand["xyz"] is None or hand["K"] is None:
                raise SampleError(f"{sample.sample_id}: no 3D labels or K to evaluate against "
                                  "(FreiHAND evaluation needs evaluation_xyz.json).")
        except LOAD_ERRORS as err:
            report_bad(f"{getattr(dataset, 'sample_id', str)(i)}: {err}")
            continue
        hand["id"] = sample.sample_id
        batch.append(hand)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def evaluate(ckpt: str | Path | PoseNet | None, data: str | Path, *, format: str = "auto",
             split: str = "test", preset: str = "freihand", crop: str = "auto",
             batch_size: int = 32, limit: int | None = None, out_dir: str | Path | None = None,
             gallery: int = 16, progress: bool = True) -> EvalReport:
    """Evaluate a fine-tuned model on a labelled split.

    Args:
        ckpt: a finetune/packed checkpoint, a `PoseNet`, or None (the shipped checkpoint).
        data: dataset folder. format: `data.formats` name or "auto". split: e.g. "test".
        preset: PCK thresholds/comparison, a `metrics.PCK_PRESETS` name ("freihand" default:
            0-50 mm, 100 steps, inclusive).
        crop: "auto", "two_pass" or "gt_box" (module docstring).
        limit: evaluate the first `limit` samples only.
        out_dir: write ``metrics.json``, ``pck.png`` and ``gallery.png`` (first `gallery` hands).

    Returns:
        `EvalReport` (metrics in mm, AUCs, curves, meta with definitions and skipped samples).
    """
    check_choice(preset, PCK_PRESETS, name="preset")
    check_choice(crop, CROPS, name="crop")
    net = ckpt if isinstance(ckpt, PoseNet) else load_posenet(ckpt)[0]
    fmt = detect_format(data) if format == "auto" else format
    crop = ("two_pass" if fmt == "freihand" else "gt_box") if crop == "auto" else crop
    dataset = open_dataset(fmt, data, split)
    n = len(dataset) if limit is None else min(limit, len(dataset))
    bad: list[str] = []
    preds, gts, valids, uv_pred, uv_gt, shown = [], [], [], [], [], []
    bar = tqdm(total=n, desc="evaluate", disable=not progress, unit="img")
    for batch in _batches(dataset, range(n), batch_size, bad.append):
        images = [h["image"] for h in batch]
        K = np.stack([h["K"] for h in batch])
        if crop == "two_pass":
            boxes = np.stack([centre_box(*im.shape[:2]) for im in images])
        else:
            boxes = np.stack([keypoint_box(h["uv"], h["valid"]) for h in batch])
        out = predict_on_boxes(net, images, boxes, K, passes=2 if crop == "two_pass" else 1)
        gt = np.stack([h["xyz"] for h in batch])
        scale = np.array([np.nan if h["scale"] is None else h["scale"] for h in batch])
        preds.append(to_meters(net, out.xyz, gt, scale))
        gts.append(gt)
        valids.append(np.stack([h["valid"] for h in batch]))
        uv_pred.append(out.uv)
        uv_gt.append(np.stack([h["uv"] for h in batch]))
        for j, h in enumerate(batch):
            if len(shown) < gallery:
                shown.append((h["image"], out.uv[j], h["uv"], h["valid"], h["id"]))
        bar.update(len(batch))
    bar.close()
    if not preds:
        raise ValueError(f"data: no usable labelled sample in {data} ({fmt}, {split}); "
                         f"{len(bad)} skipped" + (f", first: {bad[0]}" if bad else "."))
    pred, gt, valid, uvp, uvg = (np.concatenate(x) for x in (preds, gts, valids, uv_pred, uv_gt))
    report = score_predictions(pred, gt, valid, uvp, uvg, preset=preset,
                               name=f"{net.cfg.name}/{net.cfg.backbone} on {fmt}:{split}")
    report.meta.update({
        "crop": crop, "model": net.cfg.name, "backbone": net.cfg.backbone,
        "image_size": net.cfg.image_size, "skipped": len(bad), "skipped_first": bad[:5],
        "to_meters": "x scale (sample scale or GT bone)" if net.kind.absolute
                     else "x GT bone + GT wrist (global_align)"})
    if out_dir is not None:
        _write(report, shown, Path(out_dir))
    return report


def score_predictions(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray,
                      uv_pred: np.ndarray | None = None, uv_gt: np.ndarray | None = None, *,
                      preset: str = "freihand", name: str = "evaluation") -> EvalReport:
    """The standard table from predictions already in meters (`DEFINITIONS` of every metric).

    Args:
        pred, gt: (B, 21, 3) float, meters, camera frame, handkit order.
        valid: (B, 21) bool.
        uv_pred, uv_gt: optional (B, 21, 2) float pixels: adds ``mpjpe_2d_px``.
        preset: a `PCK_PRESETS` name.
    """
    check_choice(preset, PCK_PRESETS, name="preset")
    pred_t, gt_t, valid_t = (torch.as_tensor(np.ascontiguousarray(x)) for x in (pred, gt, valid))
    valid_t = valid_t.bool()
    report = evaluate_keypoints(pred_t, gt_t, valid_t, pck=preset, name=name)
    m = report.metrics
    m["rr_mpjpe_mm"] = 1000 * float(mpjpe(pred_t - pred_t[:, :1], gt_t - gt_t[:, :1], valid_t))
    m["rs_mpjpe_mm"] = 1000 * float(mpjpe(_align_root_scale(np.asarray(pred), np.asarray(gt)),
                                          gt_t, valid_t))
    aligned = procrustes(pred_t, gt_t, valid_t)
    for key, p in (("pck@20mm", pred_t), ("pa_pck@20mm", aligned)):
        m[key] = float(pck_curve(joint_errors(p, gt_t), thresholds=[0.0, 20.0], unit="mm",
                                 inclusive=True, valid=valid_t).pck[-1])
    if uv_pred is not None and uv_gt is not None:
        err = np.linalg.norm(np.asarray(uv_pred) - np.asarray(uv_gt), axis=-1)
        m["mpjpe_2d_px"] = float(err[np.asarray(valid, dtype=bool)].mean())
    spec = PCK_PRESETS[preset]
    report.meta.update({
        "definitions": {k: v for k, v in DEFINITIONS.items() if k in m},
        "pck": {"preset": preset, "thresholds": f"{spec.thresholds[0]:g}-{spec.thresholds[-1]:g} "
                f"{spec.unit}, {len(spec.thresholds)} steps",
                "comparison": "d <= t" if spec.inclusive else "d < t"}})
    return report


def _write(report: EvalReport, shown: list, out_dir: Path) -> None:
    from handkit.data.crop import box_crop_matrix, warp_crop
    from handkit.eval.plots import overlay_gallery, plot_pck

    report.write_json(out_dir / "metrics.json")
    plot_pck(report.curves, out_dir / "pck.png", title=report.name)
    if not shown:
        return
    crops, preds, gts = [], [], []
    for image, uv_pred, uv_gt, valid, _ in shown:  # display crop: around the GT hand
        T = box_crop_matrix(keypoint_box(uv_gt, valid), 160, 0.6)
        crops.append(warp_crop(image, T, 160))
        preds.append(uv_pred @ T[:2, :2].T + T[:2, 2])
        gts.append(uv_gt @ T[:2, :2].T + T[:2, 2])
    overlay_gallery(crops, preds, gts, out_dir / "gallery.png",
                    titles=[Path(str(s[4])).name for s in shown])


def summary_lines(report: EvalReport) -> list[str]:
    """The definitions of the metrics in `report`, one line each (printed under the table)."""
    defs: dict[str, Any] = report.meta.get("definitions", {})
    pck = report.meta.get("pck", {})
    lines = [f"  {k}: {defs[k]}" for k in report.metrics if k in defs]
    if pck:
        lines.append(f"  PCK/AUC thresholds: {pck['thresholds']} ({pck['comparison']}), "
                     f"preset {pck['preset']}")
    lines.append(f"  crop: {report.meta.get('crop')}; skipped samples: "
                 f"{report.meta.get('skipped', 0)}")
    return lines
