"""`evaluate`: run a fine-tuned model over a labelled test split → the standard table, JSON and
figures (the scoring itself is `eval.scoring`, model-free).

**Pipeline** (PeCLR's FreiHAND test script, specs/pretrain.md §3.1): left hands are mirrored to
right hands (distances are mirror-invariant, so metrics need no un-mirroring); ``crop="two_pass"``
starts from a centred box of side 0.33 · min(H, W) and re-crops around the predicted 2D
(official for FreiHAND, whose hands are centred; `infer.pipeline`); ``crop="gt_box"`` crops once
around the ground-truth 2D box (DexYCB/AssemblyHands practice); ``"auto"`` picks two_pass for
FreiHAND. The model's 3D is turned into meters by `eval.scoring.to_meters` from the unit and
frame it declares.

**Meshes.** When the model's `Prediction` carries vertices and the dataset can give GT vertices
(FreiHAND's ``*_verts.json``, format option ``vertices``), the predicted vertices are turned into
meters by the joints' own map (`to_meters(..., points=)`) and FreiHAND's mesh scores
(PA-MPVPE, F@5/15 mm, `eval.mesh_metrics`) join the table; ``meta["mesh"]`` says which case
applied.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from handkit.data.crop import box_crop_matrix, centre_box, keypoint_box, warp_crop
from handkit.data.formats import detect_format, format_options, open_dataset
from handkit.data.formats._base import LOAD_ERRORS
from handkit.data.hands import prepare_hand
from handkit.data.schema import SampleError
from handkit.eval.metrics import PCK_PRESETS
from handkit.eval.plots import image_mesh, overlay_gallery, plot_pck
from handkit.eval.report import EvalReport
from handkit.eval.scoring import score_predictions, to_meters
from handkit.geometry.camera import apply_affine_2d
from handkit.infer.pipeline import SECOND_BOXES, predict_on_boxes
from handkit.models.checkpoint import load_model
from handkit.models.posenet import PoseNet
from handkit.utils.check import check_choice

__all__ = ["evaluate", "gives_vertices", "CROPS"]

CROPS = ("auto", "two_pass", "gt_box")


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


def gives_vertices(net: PoseNet) -> bool:
    """Whether the model's `Prediction` carries vertices: one forward on a blank crop."""
    s = net.cfg.image_size
    device = next(net.parameters()).device
    image = net.preprocess(torch.zeros(1, 3, s, s, dtype=torch.uint8, device=device))
    K = torch.tensor([[[2.0 * s, 0, s / 2], [0, 2.0 * s, s / 2], [0, 0, 1]]], device=device)
    pred = net.predict(image, K)
    return any(h.vertices is not None for hands in pred.hands for h in hands)


def _open(fmt: str, data, split: str, mesh_model: bool):
    """The dataset, with GT vertices when the model gives vertices and the format has them;
    and the ``meta["mesh"]`` note."""
    if not mesh_model:
        return open_dataset(fmt, data, split), "model gives no vertices"
    if "vertices" not in format_options(fmt):
        return open_dataset(fmt, data, split), f"no GT vertices in format {fmt}"
    try:
        return open_dataset(fmt, data, split, vertices=True), "scored"
    except LOAD_ERRORS as err:  # e.g. no *_verts.json: score the joints, say why
        return open_dataset(fmt, data, split), f"no GT vertices ({err})"


def evaluate(ckpt: str | Path | PoseNet | None, data: str | Path, *, format: str = "auto",
             split: str = "test", preset: str = "freihand", crop: str = "auto",
             second_box: str = "official", batch_size: int = 32, limit: int | None = None,
             out_dir: str | Path | None = None, gallery: int = 16,
             progress: bool = True) -> EvalReport:
    """Evaluate a fine-tuned model on a labelled split.

    Args:
        ckpt: a finetune/packed checkpoint, a `PoseNet`, or None (the shipped checkpoint).
        data: dataset folder. format: `data.formats` name or "auto". split: e.g. "test".
        preset: PCK thresholds/comparison, a `metrics.PCK_PRESETS` name ("freihand" default:
            0-50 mm, 100 steps, inclusive).
        crop: "auto", "two_pass" or "gt_box" (module docstring).
        second_box: the two-pass rule, "official" (integer box) or "float" (`infer.pipeline`).
        limit: evaluate the first `limit` samples only.
        out_dir: write ``metrics.json``, ``pck.png`` and ``gallery.png`` (first `gallery` hands).

    Returns:
        `EvalReport` (metrics in mm, AUCs, curves, meta with definitions and skipped samples).
    """
    check_choice(preset, PCK_PRESETS, name="preset")
    check_choice(crop, CROPS, name="crop")
    check_choice(second_box, SECOND_BOXES, name="second_box")
    net = ckpt if isinstance(ckpt, PoseNet) else load_model(ckpt)[0]
    fmt = detect_format(data) if format == "auto" else format
    crop = ("two_pass" if fmt == "freihand" else "gt_box") if crop == "auto" else crop
    dataset, mesh_note = _open(fmt, data, split, gives_vertices(net))
    n = len(dataset) if limit is None else min(limit, len(dataset))
    bad: list[str] = []
    preds, gts, valids, uv_pred, uv_gt, shown = [], [], [], [], [], []
    verts_pred, verts_gt = [], []
    bar = tqdm(total=n, desc="evaluate", disable=not progress, unit="img")
    for batch in _batches(dataset, range(n), batch_size, bad.append):
        images = [h["image"] for h in batch]
        K = np.stack([h["K"] for h in batch])
        if crop == "two_pass":
            boxes = np.stack([centre_box(*im.shape[:2]) for im in images])
        else:
            boxes = np.stack([keypoint_box(h["uv"], h["valid"]) for h in batch])
        out = predict_on_boxes(net, images, boxes, K, passes=2 if crop == "two_pass" else 1,
                               second_box=second_box)
        gt = np.stack([h["xyz"] for h in batch])
        scale = np.array([np.nan if h["scale"] is None else h["scale"] for h in batch])
        preds.append(to_meters(out.xyz, gt, scale, unit=net.unit, frame=net.frame))
        verts = None if out.vertices is None else to_meters(
            out.xyz, gt, scale, unit=net.unit, frame=net.frame, points=out.vertices)
        if mesh_note == "scored":
            verts_pred.append(verts)
            verts_gt.append(np.stack([h["vertices"] for h in batch]))
        gts.append(gt)
        valids.append(np.stack([h["valid"] for h in batch]))
        uv_pred.append(out.uv)
        uv_gt.append(np.stack([h["uv"] for h in batch]))
        for j, h in enumerate(batch):
            if len(shown) < gallery:
                mesh = None if verts is None else (verts[j], K[j], out.prediction.faces)
                shown.append((h["image"], out.uv[j], h["uv"], h["valid"], h["id"], mesh))
        bar.update(len(batch))
    bar.close()
    if not preds:
        raise ValueError(f"data: no usable labelled sample in {data} ({fmt}, {split}); "
                         f"{len(bad)} skipped" + (f", first: {bad[0]}" if bad else "."))
    pred, gt, valid, uvp, uvg = (np.concatenate(x) for x in (preds, gts, valids, uv_pred, uv_gt))
    meshes = {} if mesh_note != "scored" else {"pred_verts": np.concatenate(verts_pred),
                                               "gt_verts": np.concatenate(verts_gt)}
    report = score_predictions(pred, gt, valid, uvp, uvg, preset=preset, **meshes,
                               name=f"{net.cfg.name}/{net.cfg.backbone} on {fmt}:{split}")
    report.meta.update({
        "crop": crop, "second_box": second_box, "model": net.cfg.name,
        "backbone": net.cfg.backbone, "image_size": net.cfg.image_size, "skipped": len(bad),
        "skipped_first": bad[:5], "mesh": mesh_note,
        "to_meters": f"{net.unit}, {net.frame}: " + (
            "x scale (sample scale or GT bone)" if net.frame == "camera"
            else "x GT bone + GT wrist (global_align)")})
    if out_dir is not None:
        _write(report, shown, Path(out_dir))
    return report


def _write(report: EvalReport, shown: list, out_dir: Path) -> None:
    report.write_json(out_dir / "metrics.json")
    plot_pck(report.curves, out_dir / "pck.png", title=report.name)
    if not shown:
        return
    crops, preds, gts, meshes = [], [], [], []
    for image, uv_pred, uv_gt, valid, _, mesh in shown:  # display crop: around the GT hand
        T = box_crop_matrix(keypoint_box(uv_gt, valid), 160, 0.6)
        crops.append(warp_crop(image, T, 160))
        preds.append(apply_affine_2d(uv_pred, T))
        gts.append(apply_affine_2d(uv_gt, T))
        meshes.append(None if mesh is None else image_mesh(mesh[0], mesh[2], T @ mesh[1]))
    overlay_gallery(crops, preds, gts, out_dir / "gallery.png",
                    titles=[Path(str(s[4])).name for s in shown], meshes=meshes)
