"""DIGIT over an InterHand2.6M-layout split → the official numbers (specs/digit.md §4).

Per frame: the crop (GT box, square × 1.25; or RootNet's box as given), the network, then §4.1's
lifting: x, y from heat-map units to crop pixels to image pixels (the crop's inverse map), z
from bins to meters relative to each hand's root, plus that hand's absolute root depth (GT, or
RootNet's ``abs_depth``), back-projected with the image's K. `eval.interhand.interhand_scores`
then gives MPJPE single / interacting / all (official averaging), MRRPE and handedness accuracy.
MRRPE places the left root at the right root's depth plus the predicted relative root depth
(§4.3); MPJPE uses each hand's own absolute depth (§4.2).

Every report names what it was computed on: ``dataset`` ("InterHand2.6M v1.0 (5 fps)" or
"synthetic (handkit synth interhand)" from the folder's meta.json), ``split``, ``subset``,
``annot_subset`` (InterHand's H / M / H+M / human_annot choice is the folder the user points to;
handkit cannot tell them apart and records the folder name), ``root_depth`` ("gt" or "rootnet").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from handkit.data.digit_crops import DigitAugmentParams, digit_crop, official_subset
from handkit.data.formats._base import LOAD_ERRORS
from handkit.data.formats.interhand import InterHand26M, read_rootnet
from handkit.data.hands import collate_items
from handkit.eval.interhand import interhand_scores
from handkit.eval.plots import two_hand_gallery
from handkit.hand.skeleton import convert
from handkit.losses.digit import decode_depth, encode_25d, encode_depth, lift_42
from handkit.models.checkpoint import load_model
from handkit.models.digit import DigitModel, DigitOutput
from handkit.utils.check import check_choice
from handkit.utils.files import write_json, write_text

__all__ = ["evaluate_interhand", "dataset_label", "report_lines", "write_report", "MeanPose"]


def dataset_label(root: str | Path) -> str:
    """"synthetic (handkit synth interhand)" when `root` holds handkit's meta.json, else the
    real dataset's name."""
    meta = Path(root) / "meta.json"
    if meta.is_file():
        try:
            if json.loads(meta.read_text()).get("generator") == "handkit synth":
                return "synthetic (handkit synth interhand)"
        except (OSError, ValueError):
            pass
    return "InterHand2.6M v1.0 (5 fps)"


def _to42(x: np.ndarray) -> np.ndarray:
    """(2, 21, C) handkit hands → (42, C) InterHand order."""
    return np.concatenate([convert(x[k], "handkit", "interhand") for k in range(2)])


def _item(ds: InterHand26M, i: int, patch: int, rootnet: dict | None) -> dict:
    try:
        sample = ds[i]
        bbox, process, depth = None, True, None
        if rootnet is not None:
            annot = sample.extras.get("annot_id")
            if annot not in rootnet:
                raise ValueError(f"{sample.sample_id}: no RootNet entry for annot_id {annot}.")
            bbox, depth = rootnet[annot]
            process = False
        item = digit_crop(sample, DigitAugmentParams(), patch=patch, bbox=bbox,
                          process_box=process)
    except LOAD_ERRORS as err:
        return {"bad": f"{type(err).__name__}: {err}"}
    out = {k: torch.as_tensor(np.array(v)) for k, v in item.items()}
    out["image"] = out["image"].permute(2, 0, 1).contiguous()
    out["gt"] = torch.as_tensor(_to42(sample.keypoints_3d.astype(np.float64)))
    out["gt_valid"] = torch.as_tensor(_to42(sample.joint_valid[..., None])[:, 0])
    out["index"] = torch.tensor(i)
    if depth is not None:
        out["abs_depth"] = torch.as_tensor(depth, dtype=torch.float32)
    return out


class MeanPose:
    """The mean-pose reference: every frame gets the training split's mean 2.5D joints (hm
    units, per joint over its valid entries), mean relative root depth and mean handedness,
    whatever the image. A trained model should beat it; `fit` computes it.

    Attributes:
        image_size, stride, depth_range, depth_bins: as `DigitModel`'s (the crops it is
            fitted on).
    """

    def __init__(self, joints: Tensor, rel_root: float, hand_prob: Tensor, *,
                 image_size: int, stride: int = 4, depth_range: float = 0.4,
                 depth_bins: int = 64):
        self.joints, self.rel_root, self.hand_prob = joints, rel_root, hand_prob
        self.image_size, self.stride, self.depth_range = image_size, stride, depth_range
        self.depth_bins = depth_bins

    @classmethod
    def fit(cls, root: str | Path, split: str = "train", *, image_size: int = 256,
            stride: int = 4, depth_range: float = 0.4, depth_bins: int = 64,
            limit: int | None = None) -> "MeanPose":
        """The means over `split`'s GT-box crops (no augmentation)."""
        ds = InterHand26M(root, split)
        n = len(ds) if limit is None else min(limit, len(ds))
        joint_sum, joint_count = torch.zeros(42, 3, dtype=torch.float64), torch.zeros(42, 1)
        rel_sum, rel_count, hand_sum, frames = 0.0, 0, torch.zeros(2, dtype=torch.float64), 0
        for start in range(0, n, 64):  # streamed: only the sums are kept
            items = [x for x in (_item(ds, i, image_size, None)
                                 for i in range(start, min(n, start + 64))) if "bad" not in x]
            if not items:
                continue
            batch = collate_items(items)
            t = encode_25d(batch["uv"].double(), batch["z"].double(), batch["valid"],
                           batch["interacting"], patch_size=image_size,
                           hm_size=image_size // stride, depth_range=depth_range,
                           depth_bins=depth_bins, root_depth_range=depth_range)
            w = t.joint_valid.double()[..., None]
            joint_sum += (t.joints * w).sum(0)
            joint_count += w.sum(0)
            rel_sum += float(t.rel_root[t.root_valid].sum())
            rel_count += int(t.root_valid.sum())
            hand_sum += batch["hand_type"].double().sum(0)
            frames += len(items)
        if not frames:
            raise ValueError(f"{root}: no usable frame in split {split!r} for the mean pose.")
        rel = rel_sum / rel_count if rel_count else float(encode_depth(torch.tensor(0.0)))
        return cls(joint_sum / joint_count.clamp_min(1), rel, hand_sum / frames,
                   image_size=image_size, stride=stride, depth_range=depth_range,
                   depth_bins=depth_bins)

    def eval(self) -> "MeanPose":
        return self

    def __call__(self, image: Tensor) -> DigitOutput:
        b = image.shape[0]
        p = self.hand_prob.clamp(1e-6, 1 - 1e-6)
        return DigitOutput(joints=self.joints.expand(b, -1, -1), hm_2d=None, hm_norm=None,
                           hm_depth=None, rel_root=torch.full((b,), self.rel_root,
                                                              dtype=torch.float64),
                           root_logits=None, hand_logits=torch.log(p / (1 - p)).expand(b, -1),
                           segm_logits=None)


@torch.no_grad()
def _predict(model: DigitModel | MeanPose, batch: dict) -> dict[str, np.ndarray]:
    out = model(batch["image"])
    lift = {"px_per_hm": model.stride, "depth_range": model.depth_range,
            "depth_bins": model.depth_bins}
    K_patch = batch["T"].double() @ batch["K"].double()  # lifting through T K = through K
    joints, depth = out.joints.double(), batch["abs_depth"].double()
    rel = decode_depth(out.rel_root.double(), depth_range=model.depth_range)
    # MRRPE (§4.3): both roots from the right root's depth, the left one + the relative depth
    roots = lift_42(joints, K_patch, torch.stack([depth[:, 0], depth[:, 0] + rel], 1),
                    **lift)[:, [20, 41]]
    return {"pred": lift_42(joints, K_patch, depth, **lift).numpy(), "roots": roots.numpy(),
            "prob": torch.sigmoid(out.hand_logits).double().numpy(),
            "uv_patch": (out.joints[..., :2] * model.stride).numpy(),
            "segm": None if out.segm_logits is None else out.segm_logits.argmax(1).numpy()}


def evaluate_interhand(model: DigitModel | MeanPose | str | Path, root: str | Path, *,
                       split: str = "test",
                       subset: str = "", root_depth: Literal["gt", "rootnet"] = "gt",
                       batch_size: int = 16, limit: int | None = None,
                       gallery: int = 0, gallery_path: str | Path | None = None
                       ) -> dict[str, Any]:
    """Run DIGIT over `split` of the InterHand2.6M-layout folder `root` and score it.

    Args:
        model: a `DigitModel`, a checkpoint path (`models.checkpoint.load_model`) or the
            `MeanPose` reference.
        root: dataset folder (real InterHand2.6M or `handkit synth interhand` output).
        split: "train", "val" or "test".
        subset: "" (all) or an official subset name (`data.digit_crops.official_subset`:
            "smallval" is what the official training validates on, "minitest" 1,000 frames).
        root_depth: "gt" (GT boxes and root depths) or "rootnet" (RootNet's boxes as given and
            its depths, the official default for val/test).
        batch_size: frames per forward pass.
        limit: evaluate the first `limit` frames (of the subset) only.
        gallery, gallery_path: draw the first `gallery` frames (crop with both skeletons,
            predicted and true part segmentation) to `gallery_path` (`eval.plots.two_hand_gallery`).

    Returns:
        `interhand_scores`' dict plus ``dataset``, ``split``, ``subset``, ``annot_subset``,
        ``root_depth``, ``frames``, ``skipped`` and ``skip_reasons``.
    """
    check_choice(root_depth, ("gt", "rootnet"), name="root_depth")
    if not isinstance(model, (DigitModel, MeanPose)):
        model = load_model(model)[0]
        if not isinstance(model, DigitModel):
            raise ValueError(f"model: expected a DIGIT checkpoint, got {type(model).__name__}.")
    model.eval()
    ds = InterHand26M(root, split)
    rootnet = read_rootnet(root, split) if root_depth == "rootnet" else None
    frames = sorted(official_subset(len(ds), subset))
    frames = frames if limit is None else frames[:limit]
    n = len(frames)
    rows: dict[str, list] = {k: [] for k in ("pred", "roots", "prob", "gt", "valid", "inter",
                                             "ht", "htv")}
    shown: list[dict] = []
    bad: list[str] = []
    for start in range(0, n, batch_size):
        items = [_item(ds, i, model.image_size, rootnet) for i in frames[start:start + batch_size]]
        batch = collate_items(items)
        bad += batch["bad"]
        if "image" not in batch:
            continue
        pred = _predict(model, batch)
        for key in ("pred", "roots", "prob"):
            rows[key].append(pred[key])
        rows["gt"].append(batch["gt"].numpy())
        rows["valid"].append(batch["gt_valid"].numpy().astype(bool))
        rows["inter"].append(batch["interacting"].numpy().astype(bool))
        rows["ht"].append(batch["hand_type"].numpy())
        rows["htv"].append(batch["hand_type_valid"].numpy() > 0)
        for j in range(min(gallery - len(shown), batch["image"].shape[0])):
            shown.append({"crop": (batch["image"][j].permute(1, 2, 0).numpy() * 255).round()
                          .clip(0, 255).astype(np.uint8), "uv": batch["uv"][j].numpy(),
                          "valid": batch["valid"][j].numpy().astype(bool),
                          "seg": batch["segm"][j].numpy() if batch["segm_valid"][j] > 0 else None,
                          "pred_uv": pred["uv_patch"][j],
                          "pred_seg": None if pred["segm"] is None else pred["segm"][j],
                          "title": f"frame {int(batch['index'][j])}"})
    if not rows["pred"]:
        raise ValueError(f"{root}: no frame of split {split!r} could be evaluated "
                         f"({len(bad)} skipped: {bad[:3]}).")
    if shown and gallery_path is not None:
        _gallery(shown, gallery_path)
    a = {k: np.concatenate(v) for k, v in rows.items()}
    gt_roots = a["gt"][:, [20, 41]]
    root_valid = a["inter"] & a["valid"][:, 20] & a["valid"][:, 41]
    scores = interhand_scores(a["pred"], a["gt"], a["valid"], a["inter"], hand_prob=a["prob"],
                              hand_target=a["ht"], hand_valid=a["htv"], pred_roots=a["roots"],
                              gt_roots=gt_roots, root_valid=root_valid)
    name = "mean pose (reference)" if isinstance(model, MeanPose) else "digit"
    return {"model": name, "dataset": dataset_label(root), "split": split,
            "subset": subset or "all",
            "annot_subset": Path(root).name, "root_depth": root_depth,
            "frames": int(len(a["pred"])), "skipped": len(bad),
            "skip_reasons": sorted(set(bad))[:10], **scores}


def _gallery(shown: list[dict], path: str | Path) -> Path:
    def hands(x: np.ndarray) -> np.ndarray:  # (42, C) InterHand -> (2, 21, C) handkit
        return np.stack([convert(x[h], "interhand", "handkit") for h in (slice(0, 21),
                                                                         slice(21, 42))])
    return two_hand_gallery(
        [s["crop"] for s in shown], [hands(s["pred_uv"]) for s in shown],
        [hands(s["uv"]) for s in shown], [hands(s["valid"][:, None])[..., 0] for s in shown],
        [s["pred_seg"] for s in shown], [s["seg"] for s in shown], path,
        titles=[s["title"] for s in shown])


def report_lines(report: dict[str, Any]) -> list[str]:
    """The summary table (mm) with what it was computed on, then the per-joint table."""
    head = (f"{report.get('model', 'digit')} on {report['dataset']}, split {report['split']} ({report['subset']}, "
            f"folder {report['annot_subset']}), root depth {report['root_depth']}: "
            f"{report['frames']} frames ({report['frames_sh']} single, {report['frames_ih']} "
            f"interacting), {report['skipped']} skipped")
    lines = [head,
             f"  MPJPE all / single / interacting (mm, 42 joints, wrists at 0): "
             f"{report['mpjpe_all']:.3f} / {report['mpjpe_sh']:.3f} / {report['mpjpe_ih']:.3f}",
             f"  MPJPE without the wrists (40 joints):                     "
             f"{report['mpjpe_all_no_wrist']:.3f} / {report['mpjpe_sh_no_wrist']:.3f} / "
             f"{report['mpjpe_ih_no_wrist']:.3f}",
             f"  MRRPE (mm, {report['frames_mrrpe']} frames): {report['mrrpe']:.3f}",
             f"  handedness accuracy ({report['frames_handedness']} frames): "
             f"{report['handedness_acc']:.4f}",
             f"  joints averaged (sh / ih / all): {report['joints_sh']} / {report['joints_ih']}"
             f" / {report['joints_all']} of 42"]
    lines += [f"  skipped: {why}" for why in report.get("skip_reasons", [])]
    table = ["joint        all      sh      ih"] + [
        f"{name:<10} {v['all']:7.3f} {v['sh']:7.3f} {v['ih']:7.3f}"
        for name, v in report["per_joint"].items()]
    return lines + table


def _no_nan(x: Any) -> Any:
    """NaN (a mean over nothing) → None, so metrics.json is strict JSON."""
    if isinstance(x, dict):
        return {k: _no_nan(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_no_nan(v) for v in x]
    return None if isinstance(x, float) and x != x else x


def write_report(report: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """``metrics.json`` (the whole report; NaN as null) and ``per_joint.txt`` (`report_lines`)
    in `out_dir`."""
    out = Path(out_dir)
    return [write_json(out / "metrics.json", _no_nan(report)),
            write_text(out / "per_joint.txt", "\n".join(report_lines(report)) + "\n")]
