"""`predict`: 3D hand keypoints on people's own images (a file or a folder).

For each image: read it robustly (`read_image_rgb`: grayscale, 16-bit, palette, alpha, EXIF
rotation, huge images reduced on decode), find the hand (`infer.detect`), mirror a left hand into
a right one, run the two-pass crop pipeline (`infer.pipeline`), mirror back, and write
``<name>.json`` (2D and 3D keypoints, handedness, score, the assumptions made),
``<name>_overlay.png`` and ``<name>_3d.png``. A bad image is skipped with a one-line reason;
nothing raises past `predict` for a bad image.

**Assumptions for photos** (written into every JSON): the camera is unknown, so
K = [[f, 0, W/2], [0, f, H/2], [0, 0, 1]] with f = max(W, H) (about 53° across the long side),
and metric 3D uses an assumed scale-bone length (`ASSUMED_BONE_M`). Root-relative 3D in bone
units (``keypoints_3d_bone_units``) needs neither assumption's scale.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from handkit.data.hands import mirror_to_right
from handkit.hand.skeleton import JOINT_NAMES
from handkit.eval.plots import overlay_gallery, plot_skeleton_3d
from handkit.infer.detect import find_hands
from handkit.models.checkpoint import load_model
from handkit.infer.pipeline import predict_on_boxes
from handkit.models.posenet import PoseNet
from handkit.utils.files import write_json

__all__ = ["predict", "predict_image", "read_image_rgb", "PredictResult", "PredictRun",
           "IMAGE_SUFFIXES", "ASSUMED_BONE_M", "MAX_PIXELS"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
ASSUMED_BONE_M = {"bone:middle_mcp-middle_pip": 0.03, "bone:wrist-middle_mcp": 0.095, "m": 1.0}
"""Assumed length in meters of a model's unit bone (`PoseNet.unit`) on an adult hand, used only
to print meters for photos."""
MAX_PIXELS = 250_000_000
"""Images above this many pixels are refused (decoding alone would need > 750 MB)."""
_WORK_SIDE = 2048


@dataclass
class PredictResult:
    """What `predict_image` found in one image (keypoints in the original image's pixels)."""

    path: str
    uv: np.ndarray            # (21, 2) px
    xyz_bone: np.ndarray      # (21, 3) model output, bone units, wrist-relative
    xyz_cam_m: np.ndarray | None  # (21, 3) m, camera frame under the assumptions (rn25d)
    handedness: str
    score: float | None
    notes: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)


@dataclass
class PredictRun:
    """All results of a `predict` call and the skipped inputs with their reasons."""

    results: list[PredictResult] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"predicted {len(self.results)} hand(s); skipped {len(self.skipped)} image(s)"]
        lines += [f"  skipped {p}: {why}" for p, why in self.skipped]
        return "\n".join(lines)


def read_image_rgb(path: str | Path, *, max_side: int = _WORK_SIDE) -> tuple[np.ndarray, float]:
    """Any common image file → (H, W, 3) uint8 RGB at most `max_side` px, and the factor
    original px / returned px.

    Grayscale and palette images become RGB, alpha is dropped, 16-bit and float images are
    rescaled to 8 bit by their maximum, EXIF orientation is applied, and JPEGs larger than
    `max_side` are reduced while decoding.

    Raises:
        FileNotFoundError: no such file.
        ValueError: "<file>: ..." for anything that cannot be decoded (truncated, not an image,
            too large).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                w0, h0 = img.size
                if w0 * h0 > MAX_PIXELS:
                    raise ValueError(f"{path}: image is too large ({w0}×{h0} px > "
                                     f"{MAX_PIXELS:,} px); downscale it first.")
                img.draft("RGB", (max_side, max_side))  # JPEG: decode at a reduced size
                img = ImageOps.exif_transpose(img)
                img.load()
                array = _to_rgb8(img)
    except ValueError as err:
        raise ValueError(str(err) if str(path) in str(err) else f"{path}: {err}") from None
    except Exception as err:  # noqa: BLE001 - PIL raises many types for corrupt files
        raise ValueError(f"{path}: cannot decode the image ({type(err).__name__}: {err}); "
                         "is it truncated or not an image?") from None
    h, w = array.shape[:2]
    factor = max(w, h) / max_side
    if factor > 1:
        import cv2

        size = (max(1, round(w / factor)), max(1, round(h / factor)))
        array = cv2.resize(array, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(array), max(w0 / array.shape[1], 1e-12)


def _to_rgb8(img: Image.Image) -> np.ndarray:
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        top = a.max()
        a = np.zeros_like(a) if top <= 0 else a / top * 255.0
        return np.repeat(a.round().astype(np.uint8)[..., None], 3, axis=2)
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def _default_K(h: int, w: int) -> np.ndarray:
    f = float(max(h, w))
    return np.array([[f, 0.0, w / 2], [0.0, f, h / 2], [0.0, 0.0, 1.0]])


def predict_image(net: PoseNet, path: str | Path, *, detector: str = "auto",
                  hand: str = "auto", box: tuple[float, float, float, float] | None = None,
                  mediapipe_python: str | None = None) -> PredictResult:
    """One image → `PredictResult` (ValueError with a clear message for a bad image / no hand).

    Args:
        detector, mediapipe_python: see `infer.detect.find_hands`.
        hand: "auto" (the detector's handedness, right if unknown), "right" or "left".
        box: (x0, y0, x1, y1) pixels of the original image: skip detection.
    """
    image, factor = read_image_rgb(path)
    h, w = image.shape[:2]
    notes = []
    if box is not None:
        boxes = [np.asarray(box, dtype=np.float64) / factor]
        side, score = "unknown", None
    else:
        hands, note = find_hands(image, detector=detector, mediapipe_python=mediapipe_python)
        if note:
            notes.append(note)
        if not hands:
            raise ValueError(f"{path}: {note or 'no hand found.'}")
        # A single-hand model predicts the most confident hand (every hand: issue 18).
        best = max(hands, key=lambda h: -1.0 if h.score is None else h.score)
        boxes, side, score = [best.box], best.handedness, best.score
    side = side if hand == "auto" else hand
    left = side == "left"
    K = _default_K(h, w)
    if left:  # mirror in: a right hand for the model (K stays centred: cx' = W - cx)
        x0, y0, x1, y1 = boxes[0]
        image, _, _, _ = mirror_to_right(image, np.zeros((0, 2)))
        boxes = [np.array([w - x1, y0, w - x0, y1])]
    out = predict_on_boxes(net, [image], np.stack(boxes), K[None], passes=2)
    uv, xyz = out.uv[0], out.xyz[0]
    if left:  # mirror out (mirroring is its own inverse)
        _, uv, xyz, _ = mirror_to_right(image, uv, xyz=xyz)
    bone = _assumed_bone_m(net)
    cam = xyz * bone if net.frame == "camera" else None
    return PredictResult(path=str(path), uv=uv * factor, xyz_bone=xyz - xyz[:1],
                         xyz_cam_m=cam, handedness="left" if left else "right", score=score,
                         notes=notes)


def _assumed_bone_m(net: PoseNet) -> float:
    if net.unit not in ASSUMED_BONE_M:
        raise ValueError(f"model: no assumed length for its unit {net.unit!r}; add it to "
                         "infer.predict.ASSUMED_BONE_M.")
    return ASSUMED_BONE_M[net.unit]


def _write(result: PredictResult, out_dir: Path, net: PoseNet, stem: str) -> None:
    bone = _assumed_bone_m(net)
    record = {
        "image": result.path, "handedness": result.handedness, "score": result.score,
        "joint_names": list(JOINT_NAMES),
        "keypoints_2d_px": result.uv.round(3).tolist(),
        "keypoints_3d_bone_units": result.xyz_bone.round(5).tolist(),
        "keypoints_3d_rel_m": (result.xyz_bone * bone).round(5).tolist(),
        "keypoints_3d_cam_m": None if result.xyz_cam_m is None
        else result.xyz_cam_m.round(5).tolist(),
        "model": {"name": net.cfg.name, "backbone": net.cfg.backbone},
        "assumptions": {"bone_m": bone, "unit": net.unit,
                        "focal_px": "max(W, H) of the image, principal point at the centre",
                        "frame": "camera: x right, y down, z forward; wrist-relative for _rel"},
        "notes": result.notes,
    }
    json_path = write_json(out_dir / f"{stem}.json", record)
    image, factor = read_image_rgb(result.path, max_side=1024)
    overlay = overlay_gallery([image], [result.uv / factor], None, out_dir / f"{stem}_overlay.png",
                              titles=[f"{Path(result.path).name} ({result.handedness})"])
    plot3d = plot_skeleton_3d(result.xyz_bone * bone, out_dir / f"{stem}_3d.png",
                              title="wrist-relative 3D (m, assumed hand size)")
    result.outputs = [str(json_path), str(overlay), str(plot3d)]


def _inputs(source: Path) -> list[Path]:
    if source.is_dir():
        files = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ValueError(f"{source}: no image files ({', '.join(IMAGE_SUFFIXES)}).")
        return files
    if not source.exists():
        raise FileNotFoundError(f"no such image or folder: {source}")
    return [source]


def predict(source: str | Path, *, ckpt: str | Path | None = None,
            out_dir: str | Path = "runs/predict", detector: str = "auto", hand: str = "auto",
            box: tuple[float, float, float, float] | None = None,
            mediapipe_python: str | None = None, progress: bool = True) -> PredictRun:
    """Predict every image of a file or folder; bad images are skipped and reported.

    Args:
        ckpt: finetune/packed checkpoint; None uses the shipped one.
        out_dir: where the JSON and PNG files go (``<stem>_<ext>.json`` etc.).
        detector, hand, box, mediapipe_python: see `predict_image`.
    """
    from tqdm import tqdm

    net = load_model(ckpt)[0]
    run = PredictRun()
    files = _inputs(Path(source))
    for path in tqdm(files, desc="predict", unit="img", disable=not progress or len(files) < 2):
        try:
            result = predict_image(net, path, detector=detector, hand=hand, box=box,
                                   mediapipe_python=mediapipe_python)
            _write(result, Path(out_dir), net, f"{path.stem}_{path.suffix.lstrip('.').lower()}")
        except (ValueError, FileNotFoundError) as err:
            run.skipped.append((str(path), str(err).replace(f"{path}: ", "")))
            continue
        run.results.append(result)
    return run
