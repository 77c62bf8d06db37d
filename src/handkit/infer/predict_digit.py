"""`handkit predict` with a DIGIT checkpoint: both hands of people's own images.

Per image (`predict_digit_image`): the crop is, in this order of preference,

1. the box you give (``--box``), made square × 1.25 as DIGIT's GT boxes;
2. the hand finder's boxes (`digit_finder`: MediaPipe Hands with up to two hands when it is
   installed, else handkit's trained detector with ``--detector-ckpt``; ``--detector centre``
   for the centred box): their union, each side moved out by
   `MARGIN` of the union's longer side (a finder's box is tight on the hand it saw, and DIGIT
   needs both hands in its crop), then square × 1.25 as a GT box;
3. the whole image (a square of side max(W, H) about its centre, the rest black): when no
   finder is installed or asked for (``--detector whole``), or the finder found no hand.

The network sees the crop at its input size; both hands come back with their handedness
scores (a hand is reported present when its score is ≥ 0.5); 2D is mapped back to the image's
pixels. 3D is in meters in the camera frame under two written-down assumptions: K =
`infer.pipeline.photo_K` (f = max(W, H), principal point at the centre) unless you pass K
(``--K``), and the right root at `DigitModel.assumed_root_depth` (0.7 m) unless you pass a
depth; the left root is placed with the predicted relative root depth. The JSON records which
crop rule, finder and boxes were used and whether K was given or assumed. Files per image:
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
from handkit.external.mediapipe import mediapipe_available
from handkit.hand.skeleton import JOINT_NAMES
from handkit.infer.finders import (Box, CentreFinder, DetectorFinder, HandFinder, MediaPipeFinder,
                                   load_detector)
from handkit.infer.pipeline import photo_K
from handkit.infer.predict import _inputs, read_image_rgb
from handkit.models.checkpoint import load_model
from handkit.models.digit import DigitModel
from handkit.utils.check import check_choice, check_shape
from handkit.utils.files import write_json

__all__ = ["predict_digit_image", "predict_digit", "is_digit_checkpoint", "DigitPredictRun",
           "digit_finder", "union_box", "DIGIT_DETECTORS", "MARGIN"]

DIGIT_DETECTORS = ("auto", "mediapipe", "trained", "centre", "whole")
MARGIN = 0.1
"""Each side of the finders' union box moves out by this fraction of the union's longer side
before DIGIT's square × 1.25 (so the crop is 1.5 × the union's side): room for the fingers a
tight landmark box cuts and for the other hand's edge. Chosen, not measured; DIGIT trains with
scale augmentation 0.75-1.25 about its GT box, so this much more context is within it."""


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


def digit_finder(name: str = "auto", threshold: float | None = None,
                 detector_ckpt: str | Path | None = None) -> HandFinder | None:
    """The hand finder DIGIT's crop comes from (`DIGIT_DETECTORS`), asked for up to two hands.

    "auto": MediaPipe Hands when installed, else handkit's trained detector when
    `detector_ckpt` is given, else None (the whole image); "mediapipe": MediaPipe (ValueError
    with the install line when it is not installed); "trained": `DetectorFinder` from
    `detector_ckpt`; "centre": `CentreFinder`'s centred box; "whole": None. handkit's
    crop-scoring finder is refused: it looks for one hand at the image's centre only.
    """
    if name == "handkit":
        raise ValueError("--detector handkit: handkit's finder looks for one hand at the "
                         "image's centre; DIGIT needs both hands in its crop: use auto, "
                         "mediapipe, trained, centre, whole or --box.")
    check_choice(name, DIGIT_DETECTORS, name="--detector")
    if name == "auto":
        name = ("mediapipe" if mediapipe_available()
                else "trained" if detector_ckpt is not None else "whole")
    kw = {} if threshold is None else {"threshold": threshold}
    if name == "mediapipe":
        return MediaPipeFinder(max_hands=2, **kw)
    if name == "trained":
        if detector_ckpt is None:
            raise ValueError("--detector trained: needs a detector checkpoint (--detector-ckpt "
                             "FILE, from `handkit train detector`).")
        return DetectorFinder(load_detector(detector_ckpt), max_hands=2, **kw)
    return CentreFinder() if name == "centre" else None


def union_box(boxes: list[Box] | np.ndarray, margin: float = MARGIN) -> np.ndarray:
    """(4,) float64 (x0, y0, x1, y1) px: the union of `boxes` (`Box`es or an (N, 4) array),
    each side moved out by `margin` × the union's longer side.

    Raises:
        ValueError: no box, a negative margin, or a non-finite box.
    """
    xyxy = np.array([b.xyxy for b in boxes] if boxes is not None and len(boxes) and
                    isinstance(boxes[0], Box) else boxes, dtype=np.float64).reshape(-1, 4)
    if not len(xyxy):
        raise ValueError("boxes: no box to take the union of.")
    if not (margin >= 0):
        raise ValueError(f"margin: expected >= 0, got {margin}.")
    if not np.isfinite(xyxy).all():
        raise ValueError(f"boxes: not finite: {xyxy.tolist()}.")
    lo, hi = xyxy[:, :2].min(0), xyxy[:, 2:].max(0)
    grow = margin * float((hi - lo).max())
    return np.concatenate([lo - grow, hi + grow])


def _crop(image: np.ndarray, box: Any, finder: HandFinder | None,
          margin: float) -> tuple[np.ndarray, tuple[float, float], dict]:
    """(centre (2,), size (side, side), the JSON "crop" record without box_px)."""
    h, w = image.shape[:2]
    found: list[Box] = []
    if box is None and finder is not None:
        found = finder.find_hands(image)
    info: dict[str, Any] = {"finder": None}
    if finder is not None and box is None:
        info["finder"] = {"name": finder.name, "threshold": finder.threshold,
                          "found": [{"box_px": b.xyxy.round(2).tolist(), "score": b.score,
                                     "handedness": b.handedness} for b in found]}
    if box is not None or found:
        x0, y0, x1, y1 = (np.asarray(box, np.float64) if box is not None
                          else union_box(found, margin))
        b = process_bbox([x0, y0, x1 - x0, y1 - y0])
        if box is not None:
            info.update(source="box", rule="box, square x 1.25")
        else:
            info.update(source="finder", margin=margin,
                        rule=f"union of the finder's {len(found)} box(es) + {margin:g} of its "
                             "side each way, square x 1.25")
        return b[:2], (float(b[2]), float(b[3])), info
    side = float(max(h, w))
    why = "no finder" if finder is None else f"the {finder.name!r} finder found no hand"
    info.update(source="whole image", rule=f"whole image ({why})")
    return np.array([w / 2, h / 2]), (side, side), info


def predict_digit_image(net: DigitModel, image: np.ndarray, *, box: Any = None,
                        finder: HandFinder | None = None, margin: float = MARGIN,
                        K: np.ndarray | None = None,
                        root_depth: float | None = None) -> dict[str, Any]:
    """Both hands of one RGB image.

    Args:
        image: (H, W, 3) uint8 RGB.
        box: optional (x0, y0, x1, y1) pixels around both hands (the finder is not run).
        finder: optional hand finder (`digit_finder`); the crop is the union of its boxes grown
            by `margin` (`union_box`), or the whole image when it finds none / is None.
        K: optional (3, 3) intrinsics, pixels (default: assumed, `photo_K`).
        root_depth: optional right-root depth, meters (default: the model's assumption).

    Returns:
        A JSON-ready record: per hand (right, left) ``present``, ``score``, 2D pixels and 3D
        camera-frame meters (handkit order); ``crop`` (``source`` box / finder / whole image,
        ``rule``, ``box_px`` the square crop, ``finder`` with its boxes or None); the
        assumptions made (``K_source`` given / assumed, ``K_px`` the K used).
    """
    h, w = image.shape[:2]
    centre, size, crop_info = _crop(image, box, finder, margin)
    s = net.image_size
    T = crop_matrix(centre, size, 0.0, s)
    if K is not None:
        check_shape(np.asarray(K), "3 3", name="K")
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
            "crop": {**crop_info, "box_px": corners[:, :2].ravel().round(2).tolist()},
            "assumptions": {
                "K": "given" if K is not None else "f = max(W, H), principal point at the centre",
                "K_source": "given" if K is not None else "assumed",
                "K_px": np.asarray(K_img).round(4).tolist(),
                "right_root_depth_m": float(root_depth) if root_depth is not None
                else net.assumed_root_depth,
                "left_root": "right root depth + the predicted relative root depth",
                "frame": "camera: x right, y down, z forward"}}


def _overlay(image: np.ndarray, record: dict, path: Path, title: str) -> Path:
    shown = [h for h in record["hands"] if h["present"]]
    return multi_hand_overlay(image, [np.array(h["keypoints_2d_px"]) for h in shown],
                              [h["side"] == "right" for h in shown], path,
                              scores=[h["score"] for h in shown], title=title)


def _to_original(record: dict, factor: float) -> None:
    """Pixel quantities of a record made on an image reduced by `factor` → the original's."""
    if factor == 1:
        return
    for hand in record["hands"]:
        hand["keypoints_2d_px"] = (np.array(hand["keypoints_2d_px"]) * factor).round(3).tolist()
    crop = record["crop"]
    crop["box_px"] = (np.array(crop["box_px"]) * factor).round(2).tolist()
    for found in (crop["finder"] or {}).get("found", []):
        found["box_px"] = (np.array(found["box_px"]) * factor).round(2).tolist()
    S = np.diag([factor, factor, 1.0])
    record["assumptions"]["K_px"] = (S @ np.array(record["assumptions"]["K_px"])).round(4).tolist()


def predict_digit(source: str | Path, *, ckpt: str | Path, out_dir: str | Path = "runs/predict",
                  box: Any = None, root_depth: float | None = None, detector: str = "auto",
                  threshold: float | None = None, detector_ckpt: str | Path | None = None,
                  K: Any = None, margin: float = MARGIN) -> DigitPredictRun:
    """`predict_digit_image` over a file or folder; bad images are listed, never raised.

    Args:
        box: (x0, y0, x1, y1) pixels of the original images, for every image (no finder).
        detector, threshold, detector_ckpt: the finder without `box` (`digit_finder`).
        K: (3, 3) intrinsics in the original images' pixels, or None (assumed per image).
        margin: `union_box`'s.

    Returns:
        `DigitPredictRun`.
    """
    net = load_model(ckpt)[0]
    if not isinstance(net, DigitModel):
        raise ValueError(f"{ckpt}: not a DIGIT checkpoint ({type(net).__name__}).")
    if K is not None:
        K = np.asarray(K, np.float64)
        check_shape(K, "3 3", name="K")
    finder = None if box is not None else digit_finder(detector, threshold, detector_ckpt)
    run = DigitPredictRun()
    out = Path(out_dir)
    for path in _inputs(Path(source)):
        stem = f"{path.stem}_{path.suffix.lstrip('.').lower()}"
        try:
            image, factor = read_image_rgb(path)
            scaled_box = None if box is None else np.asarray(box, np.float64) / factor
            scaled_K = None if K is None else np.diag([1 / factor, 1 / factor, 1.0]) @ K
            record = predict_digit_image(net, image, box=scaled_box, finder=finder,
                                         margin=margin, K=scaled_K, root_depth=root_depth)
        except (ValueError, FileNotFoundError) as err:
            run.skipped.append((str(path), str(err).replace(f"{path}: ", "")))
            continue
        _overlay(image, record, out / f"{stem}_overlay.png",
                 f"{path.name}: " + ", ".join(f"{h['side']} {h['score']:.2f}"
                                              for h in record["hands"]))
        _to_original(record, factor)
        record = {"image": str(path), "model": {"name": "digit", "backbone": net.cfg.backbone},
                  **record}
        write_json(out / f"{stem}.json", record)
        run.records.append(record)
    return run
