"""`handkit predict` with a DIGIT checkpoint: both hands of people's own images.

Per image (`predict_digit_image`): the crop is the box you give (``--box``, made square × 1.25
as DIGIT's GT boxes) or, without one, the whole image (a square of side max(W, H) about its
centre, the rest black); the network sees it at its input size; both hands come back with
their handedness scores (a hand is reported present when its score is ≥ 0.5); 2D is mapped back
to the image's pixels. 3D is in meters in the camera frame under two written-down
assumptions: K = `infer.pipeline.photo_K` (f = max(W, H), principal point at the centre) unless
you pass K, and the right root at `DigitModel.assumed_root_depth` (0.7 m) unless you pass a
depth; the left root is placed with the predicted relative root depth. Files per image:
``<name>.json`` and ``<name>_overlay.png`` (both skeletons: right red, left blue).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from handkit.data.crop import warp_crop
from handkit.data.digit_crops import crop_matrix, process_bbox
from handkit.eval.plots import multi_hand_overlay
from handkit.hand.skeleton import JOINT_NAMES
from handkit.infer.pipeline import photo_K
from handkit.infer.predict import _inputs, read_image_rgb
from handkit.models.checkpoint import load_model
from handkit.models.digit import DigitModel
from handkit.utils.files import write_json

__all__ = ["predict_digit_image", "predict_digit", "is_digit_checkpoint", "DigitPredictRun"]


@dataclass
class DigitPredictRun:
    """What `predict_digit` wrote: one record per image (`predict_digit_image` plus "image"
    and "model"), and the skipped inputs with their reasons."""

    records: list[dict] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

def is_digit_checkpoint(ckpt: str | Path | None) -> bool:
    """Whether `ckpt` is a DIGIT checkpoint (its config names model "digit")."""
    if not ckpt:
        return False
    from handkit.models.checkpoint import read_checkpoint

    config = read_checkpoint(ckpt)[1].get("config", {})
    return isinstance(config, dict) and config.get("model", {}).get("name") == "digit"


def predict_digit_image(net: DigitModel, image: np.ndarray, *, box: Any = None,
                        K: np.ndarray | None = None,
                        root_depth: float | None = None) -> dict[str, Any]:
    """Both hands of one RGB image.

    Args:
        image: (H, W, 3) uint8 RGB.
        box: optional (x0, y0, x1, y1) pixels around both hands.
        K: optional (3, 3) intrinsics, pixels (default: assumed, `photo_K`).
        root_depth: optional right-root depth, meters (default: the model's assumption).

    Returns:
        A JSON-ready record: per hand (right, left) ``present``, ``score``, 2D pixels and 3D
        camera-frame meters (handkit order), the crop box, and the assumptions made.
    """
    h, w = image.shape[:2]
    if box is None:
        side = float(max(h, w))
        centre, size, crop_rule = np.array([w / 2, h / 2]), (side, side), "whole image"
    else:
        x0, y0, x1, y1 = (float(v) for v in box)
        b = process_bbox([x0, y0, x1 - x0, y1 - y0])
        centre, size, crop_rule = b[:2], tuple(b[2:]), "box, square x 1.25"
    s = net.image_size
    T = crop_matrix(centre, size, 0.0, s)
    K_img = photo_K(h, w) if K is None else np.asarray(K, np.float64)
    crop = warp_crop(image, T, s)
    x = torch.from_numpy(crop).permute(2, 0, 1)[None]
    depth = None if root_depth is None else torch.tensor([float(root_depth)])
    pred = net.predict(net.preprocess(x), torch.from_numpy(T @ K_img).float()[None],
                       root_depth=depth)
    pred = pred.map_uv(torch.from_numpy(np.linalg.inv(T)).float()[None])
    hands = []
    for hand in pred.hands[0]:
        hands.append({"side": "right" if hand.is_right else "left",
                      "present": bool(hand.score >= 0.5), "score": round(hand.score, 4),
                      "keypoints_2d_px": hand.uv.double().numpy().round(3).tolist(),
                      "keypoints_3d_cam_m": hand.xyz.double().numpy().round(5).tolist()})
    corners = np.array([[0, 0, 1], [s, s, 1]], np.float64) @ np.linalg.inv(T).T
    return {"hands": hands, "joint_names": list(JOINT_NAMES),
            "crop": {"rule": crop_rule, "box_px": corners[:, :2].ravel().round(2).tolist()},
            "assumptions": {
                "K": "given" if K is not None else "f = max(W, H), principal point at the centre",
                "right_root_depth_m": float(root_depth) if root_depth is not None
                else net.assumed_root_depth,
                "left_root": "right root depth + the predicted relative root depth",
                "frame": "camera: x right, y down, z forward"}}


def _overlay(image: np.ndarray, record: dict, path: Path, title: str) -> Path:
    shown = [h for h in record["hands"] if h["present"]]
    return multi_hand_overlay(image, [np.array(h["keypoints_2d_px"]) for h in shown],
                              [h["side"] == "right" for h in shown], path,
                              scores=[h["score"] for h in shown], title=title)


def predict_digit(source: str | Path, *, ckpt: str | Path, out_dir: str | Path = "runs/predict",
                  box: Any = None, root_depth: float | None = None) -> DigitPredictRun:
    """`predict_digit_image` over a file or folder; bad images are listed, never raised.

    Returns:
        `DigitPredictRun`.
    """
    net = load_model(ckpt)[0]
    if not isinstance(net, DigitModel):
        raise ValueError(f"{ckpt}: not a DIGIT checkpoint ({type(net).__name__}).")
    run = DigitPredictRun()
    out = Path(out_dir)
    for path in _inputs(Path(source)):
        stem = f"{path.stem}_{path.suffix.lstrip('.').lower()}"
        try:
            image, factor = read_image_rgb(path)
            scaled_box = None if box is None else np.asarray(box, np.float64) / factor
            record = predict_digit_image(net, image, box=scaled_box, root_depth=root_depth)
        except (ValueError, FileNotFoundError) as err:
            run.skipped.append((str(path), str(err).replace(f"{path}: ", "")))
            continue
        _overlay(image, record, out / f"{stem}_overlay.png",
                 f"{path.name}: " + ", ".join(f"{h['side']} {h['score']:.2f}"
                                              for h in record["hands"]))
        for hand in record["hands"]:  # back to the original image's pixels
            hand["keypoints_2d_px"] = (np.array(hand["keypoints_2d_px"]) * factor).round(3).tolist()
        record = {"image": str(path), "model": {"name": "digit", "backbone": net.cfg.backbone},
                  **record}
        write_json(out / f"{stem}.json", record)
        run.records.append(record)
    return run
