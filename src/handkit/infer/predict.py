"""`predict`: 3D hand keypoints on people's own images (a file or a folder).

For each image: read it robustly (`read_image_rgb`: grayscale, 16-bit, palette, alpha, EXIF
rotation, huge images reduced on decode), find the hand (`infer.finders`: MediaPipe when
installed, else handkit's own), mirror a left hand into a right one, run the crop pipeline
(`infer.pipeline`, the finder's number of passes), mirror back (or take the finder's own
keypoints, below), and write ``<name>.json`` (2D
and 3D keypoints, handedness, which finder and score, the crops, the assumptions made),
``<name>_overlay.png`` and ``<name>_3d.png``. When no detection passes the finder's score
threshold (a blank image, a cat) the image gets "no hand" and a JSON saying so. A bad image is
skipped with a one-line reason; nothing raises past `predict` for a bad image.

**Meshes.** For a model whose `Prediction` carries vertices (faces on the `Prediction`), the
overlay also shows the shaded mesh (`eval.plots.draw_mesh_overlay`, under the skeleton) and the
mesh is written beside the keypoints as ``<name>_mesh.obj`` (or ``.ply``), meters, in the camera
frame for camera-frame models and wrist-relative otherwise (as ``keypoints_3d_cam_m`` /
``keypoints_3d_rel_m``); the JSON's ``mesh`` entry names the file and its frame. A root-relative
mesh is drawn where the translation fitted to the 2D keypoints puts it
(`geometry.camera.fit_translation`, under the assumed K and hand size). With ``fit_mesh``, a
model without a mesh gets one fitted to its 2D keypoints (`infer.fit_mesh`, S2HAND's
refinement: OpenHand or MANO, camera frame under the assumed K; the JSON says so).

**Keypoints from the finder.** MediaPipe's finder comes with its own 2D landmarks and a 3D
shape (its "world landmarks"). On the real development photos its 2D is far closer than
handkit's network on the same box (docs/predict.md), so by default (``keypoints="auto"``)
`predict` answers with them and does not run the network: the 2D as given; the 3D shape,
wrist-relative, scaled so that the model's unit bone has the assumed length (MediaPipe's own
metric size varies by 2-3x between photos of adult hands), then translated to where it
projects best onto the 2D under the assumed K (`geometry.camera.fit_translation`). The JSON's
``keypoints_source`` says which it was; ``keypoints="network"`` restores the network on
MediaPipe's box. A box the user gives is searched by MediaPipe too, at a zoom that finds small
hands (`infer.finders.MediaPipeFinder.find_in_box`); the network answers on the box when
MediaPipe finds no hand there.

**Assumptions for photos** (written into every JSON): the camera is unknown, so
K = [[f, 0, W/2], [0, f, H/2], [0, 0, 1]] with f = max(W, H) (about 53° across the long side),
and metric 3D uses an assumed scale-bone length (`ASSUMED_BONE_M`). Root-relative 3D in bone
units (``keypoints_3d_bone_units``) needs neither assumption's scale.
"""

from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image, ImageOps

from handkit.data.crop import box_crop_matrix
from handkit.data.hands import mirror_to_right
from handkit.geometry.camera import fit_translation
from handkit.hand.skeleton import JOINT_NAMES, mirror_xyz
from handkit.eval.plots import image_mesh, overlay_gallery, plot_skeleton_3d
from handkit.external.mediapipe import mediapipe_available
from handkit.infer.finders import (Box, DetectorFinder, FinderKeypoints, HandFinder,
                                   MediaPipeFinder, holds_nothing, make_finder)
from handkit.infer.fit_mesh import mesh_from_keypoints
from handkit.infer.pipeline import DEFAULT_FILL, CropPrediction, photo_K, predict_on_boxes
from handkit.models.checkpoint import load_model
from handkit.models.posenet import PoseNet
from handkit.models.prediction import parse_unit
from handkit.utils.check import check_choice
from handkit.utils.files import write_json
from handkit.utils.mesh_io import write_mesh

__all__ = ["predict", "predict_image", "predict_hand", "read_image_rgb", "PredictResult",
           "PredictRun", "NoHand", "PhotoHand", "output_stems", "unit_length",
           "place_finder_keypoints", "KEYPOINT_SOURCES", "check_box_on_image", "IMAGE_SUFFIXES",
           "ASSUMED_BONE_M", "MAX_PIXELS", "MESH_FORMATS"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
ASSUMED_BONE_M = {"bone:middle_mcp-middle_pip": 0.03, "bone:wrist-middle_mcp": 0.095, "m": 1.0}
"""Assumed length in meters of a model's unit bone (`PoseNet.unit`) on an adult hand, used only
to print meters for photos."""
MAX_PIXELS = 250_000_000
"""Images above this many pixels are refused (decoding alone would need > 750 MB)."""
_WORK_SIDE = 2048
MESH_FORMATS = ("obj", "ply")
RUNTIMES = ("torch", "onnx")
KEYPOINT_SOURCES = ("auto", "network", "finder")
_FINDER_IN_BOX = ("keypoints: 'finder' with a given box needs MediaPipe as the finder (it "
                  "searches the box); use 'network' or 'auto'.")


@dataclass
class PredictResult:
    """What `predict_image` found in one image (keypoints in the original image's pixels)."""

    path: str
    uv: np.ndarray            # (21, 2) px
    xyz_bone: np.ndarray      # (21, 3) model output, bone units, wrist-relative
    xyz_cam_m: np.ndarray | None  # (21, 3) m, camera frame under the assumptions (rn25d)
    handedness: str
    score: float | None
    finder: dict = field(default_factory=dict)  # name, score, threshold, handedness
    crop: dict = field(default_factory=dict)    # passes, fill, first_box_px, last_crop_px
    notes: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    vertices_rel_m: np.ndarray | None = None  # (V, 3) m, wrist-relative (assumed hand size)
    mesh_origin_m: np.ndarray | None = None  # (3,) m, camera-frame wrist the mesh is drawn at
    faces: np.ndarray | None = None  # (F, 3) int64, for `vertices_rel_m`
    K: np.ndarray | None = None  # (3, 3) px, the assumed intrinsics of the original image
    mesh_source: str = "model"  # "model", or "fit" (fitted to the 2D keypoints, camera frame)
    keypoints_source: str = "network"  # "network", or the finder's keypoints' source


class NoHand(ValueError):
    """The finder returned no hand above its score threshold (the message says why)."""

    def __init__(self, message: str, *, finder: str, threshold: float | None):
        super().__init__(message)
        self.finder, self.threshold = finder, threshold


@dataclass
class PredictRun:
    """All results of a `predict` call, the images without a hand, and the skipped inputs
    with their reasons."""

    results: list[PredictResult] = field(default_factory=list)
    no_hand: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"predicted {len(self.results)} hand(s); no hand in {len(self.no_hand)} "
                 f"image(s); skipped {len(self.skipped)} image(s)"]
        lines += [f"  no hand in {p}: {why}" for p, why in self.no_hand]
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


class PhotoHand(NamedTuple):
    """`predict_hand`'s result (``[0]`` is the 2D, as callers index it)."""

    uv: np.ndarray  # (21, 2) image px
    xyz: np.ndarray  # (21, 3) the model's 3D (its unit and frame) under `photo_K`
    last_crop: np.ndarray  # (4,) the last crop's square, image px
    vertices: np.ndarray | None  # (V, 3) same unit and frame as xyz, None for pose models
    faces: np.ndarray | None  # (F, 3) int64, winding reversed with a mirrored (left) hand


def predict_hand(net: PoseNet, image: np.ndarray, box: np.ndarray, *, left: bool = False,
                 passes: int = 1, fill: float = DEFAULT_FILL,
                 known: CropPrediction | None = None) -> PhotoHand:
    """One hand of a photo: mirror a left hand in, run the crop pipeline, mirror out.

    Args:
        image: (H, W, 3) uint8 RGB. box: (4,) (x0, y0, x1, y1) pixels, the first-pass box.
        left: the hand is a left hand (the model sees its mirror image).
        passes, fill: see `infer.pipeline.predict_on_boxes`.
        known: the one-pass prediction on `box` at the pipeline's fill, already computed by a
            finder (`infer.finders.Box.prediction`): used as is for a right hand with 1 pass
            at that fill instead of running the network again; a prediction whose crop is not
            `box`'s is a ValueError (it would answer for another crop).

    Returns:
        `PhotoHand`: uv (21, 2) image px; xyz (21, 3) the model's 3D (its unit and frame,
        `PoseNet`) under `infer.pipeline.photo_K`; the last crop's square (4,) image px; the
        vertices and faces of a mesh model (mirrored out with the hand).
    """
    h, w = image.shape[:2]
    K = photo_K(h, w)
    first = np.asarray(box, np.float64).reshape(4)
    if left:  # mirror in: a right hand for the model (K stays centred: cx' = W - cx)
        image, _, _, _ = mirror_to_right(image, np.zeros((0, 2)))
        first = np.array([w - first[2], first[1], w - first[0], first[3]])
    if known is not None and not left and passes == 1 and fill == DEFAULT_FILL:
        if not np.allclose(known.T[0], box_crop_matrix(first, net.cfg.image_size, fill)):
            raise ValueError(f"known: its crop is not the one of box {first.tolist()} at fill "
                             f"{fill}; pass the finder's Box.prediction with that Box.")
        out = known
    else:
        out = predict_on_boxes(net, [image], first[None], K[None], passes=passes, fill=fill)
    uv, xyz = out.uv[0], out.xyz[0]
    verts = None if out.vertices is None else out.vertices[0]
    faces = out.prediction.faces
    faces = None if faces is None else faces.cpu().numpy().astype(np.int64)
    last = _crop_box(out.T[0], net.cfg.image_size)
    if left:  # mirror out (mirroring is its own inverse; it reverses the faces' winding)
        _, uv, xyz, _ = mirror_to_right(image, uv, xyz=xyz)
        verts = None if verts is None else mirror_xyz(verts)
        faces = None if faces is None else np.ascontiguousarray(faces[:, ::-1])
        last = np.array([w - last[2], last[1], w - last[0], last[3]])
    return PhotoHand(uv, xyz, last, verts, faces)


def predict_image(net: PoseNet, path: str | Path, *, finder: HandFinder | None = None,
                  hand: str = "auto", box: tuple[float, float, float, float] | None = None,
                  passes: int | None = None, fit_mesh: bool = False,
                  mano_dir: str | None = None, keypoints: str = "auto") -> PredictResult:
    """One image → `PredictResult` (ValueError for a bad image; `NoHand` when the finder
    returns no hand above its threshold).

    Args:
        finder: an `infer.finders` finder (default ``make_finder("auto", net)``).
        hand: "auto" (the finder's handedness, right if unknown), "right" or "left".
        box: (x0, y0, x1, y1) pixels of the original image, the hand's box: no search of the
            whole image. With a `MediaPipeFinder` as `finder` and `keypoints` not "network",
            MediaPipe searches the box (`MediaPipeFinder.find_in_box`) and answers with its
            keypoints there, the network on the box when it finds none ("auto"; "finder"
            without MediaPipe is a ValueError); otherwise the network runs on the box.
        passes: crop passes on the box, 1 or 2 (default: the finder's ``passes``; 1 for `box`:
            on real photos a second pass made the labelled box's result worse, docs/predict.md).
        fit_mesh: a model without a mesh gets one fitted to its 2D keypoints (module doc);
            `mano_dir` picks MANO instead of OpenHand.
        keypoints: who answers: "network" (the pose network on the found box), "finder" (the
            finder's own keypoints, `Box.keypoints`: MediaPipe's 2D and 3D landmarks; a
            ValueError for a finder without them) or "auto" (the finder's when it has them,
            else the network). Module doc, "Keypoints from the finder".
    """
    check_choice(keypoints, KEYPOINT_SOURCES, name="keypoints")
    image, factor = read_image_rgb(path)
    finder = make_finder("auto", net) if finder is None and box is None else finder
    if keypoints == "finder" and box is not None and not isinstance(finder, MediaPipeFinder):
        raise ValueError(_FINDER_IN_BOX)
    notes = []
    if box is not None:
        check_box_on_image(box, round(image.shape[1] * factor), round(image.shape[0] * factor))
        given = Box(*(float(v) / factor for v in box), score=None, is_right=None, source="box")
        found, threshold = given, None
        if keypoints != "network" and isinstance(finder, MediaPipeFinder):
            inside = finder.find_in_box(image, given.xyxy)
            if inside is None:
                notes.append(f"MediaPipe found no hand in the given box (palm score >= "
                             f"{finder.threshold}); the network answers on the box")
            else:
                found, threshold = inside, finder.threshold
        passes = 1 if passes is None else passes
    else:
        hands = finder.find_hands(image)
        threshold = finder.threshold
        if not hands:
            empty = holds_nothing(image)
            why = (f"the image is {empty}" if empty else
                   f"no detection of the {finder.name!r} finder scored >= {threshold}")
            raise NoHand(f"{path}: no hand: {why}.", finder=finder.name, threshold=threshold)
        # A single-hand model predicts the most confident hand (every hand: issue 18).
        found = hands[0]
        passes = finder.passes if passes is None else passes
    side = "left" if (found.handedness if hand == "auto" else hand) == "left" else "right"
    left = side == "left"
    h, w = image.shape[:2]
    K_orig = np.diag([factor, factor, 1.0]) @ photo_K(h, w)  # the same camera, original px
    bone = _assumed_bone_m(net)
    finder_record = {"name": found.source, "score": found.score, "threshold": threshold,
                     "handedness": found.handedness}
    if keypoints == "finder" and found.keypoints is None:
        raise ValueError(f"keypoints: 'finder', but the {found.source!r} finder gives no "
                         "keypoints of its own (MediaPipe does); use 'network' or 'auto'.")
    if keypoints != "network" and found.keypoints is not None:
        result = _finder_result(str(path), found, finder_record, K_orig, factor, net.unit,
                                bone, side=side)
        if box is not None:
            result.crop["given_box_px"] = [float(v) for v in box]
        photo = None
    else:
        photo = predict_hand(net, image, found.xyxy, left=left, passes=passes,
                             known=found.prediction)
        xyz = photo.xyz
        crop = {"passes": passes, "fill": DEFAULT_FILL,
                "first_box_px": (found.xyxy * factor).round(2).tolist(),
                "last_crop_px": (photo.last_crop * factor).round(2).tolist()}
        result = PredictResult(path=str(path), uv=photo.uv * factor, xyz_bone=xyz - xyz[:1],
                               xyz_cam_m=xyz * bone if net.frame == "camera" else None,
                               handedness=side, score=found.score, finder=finder_record,
                               crop=crop, K=K_orig, notes=notes)
    if photo is not None and photo.vertices is not None and photo.faces is not None:
        result.vertices_rel_m = (photo.vertices - photo.xyz[:1]) * bone
        result.faces = photo.faces
        result.mesh_origin_m = (result.xyz_cam_m[0] if result.xyz_cam_m is not None else
                                fit_translation(result.xyz_bone * bone, result.uv,
                                                K_orig).numpy())
    elif fit_mesh:
        fitted = mesh_from_keypoints(result.uv, K_orig, w * factor, hand=result.handedness,
                                     mano_dir=mano_dir)
        result.vertices_rel_m = fitted.vertices - fitted.joints[:1]
        result.mesh_origin_m, result.faces = fitted.joints[0], fitted.faces
        result.mesh_source = "fit"
        result.notes.append(f"mesh fitted to the 2D keypoints (S2HAND's refinement), "
                            f"{fitted.reprojection_px:.1f} px mean reprojection error")
    return result


def unit_length(xyz: np.ndarray, unit: str) -> float:
    """The length of `unit` ("m" or "bone:A-B", `models.prediction.parse_unit`) in (21, 3)
    keypoints `xyz`, in `xyz`'s own unit."""
    bone = parse_unit(unit)
    return 1.0 if bone is None else float(np.linalg.norm(xyz[bone[0]] - xyz[bone[1]]))


def place_finder_keypoints(kp: FinderKeypoints, K: np.ndarray, unit: str, bone_m: float, *,
                           factor: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A finder's own keypoints as `predict`'s answer (module doc, "Keypoints from the
    finder").

    Args:
        kp: the finder's keypoints, with 3D. K: (3, 3) the image's assumed intrinsics, pixels
            of the original image. unit, bone_m: the unit bone (`PoseNet.unit`) and its
            assumed length in meters. factor: original image px per px of the searched image.

    Returns:
        uv (21, 2) original px; xyz_bone (21, 3) wrist-relative, in units of the unit bone;
        xyz_cam_m (21, 3) meters, camera frame: the shape scaled to the assumed bone length and
        translated to project best onto uv under K (`geometry.camera.fit_translation`).
    """
    if kp.xyz_m is None:
        raise ValueError(f"keypoints: {kp.source} gave no 3D for this hand; use --keypoints "
                         "network.")
    for name, value, shape in (("uv", kp.uv, (21, 2)), ("xyz_m", kp.xyz_m, (21, 3))):
        if np.shape(value) != shape or not np.isfinite(value).all():
            raise ValueError(f"keypoints: {kp.source}'s {name} is not {shape} finite values "
                             f"(shape {np.shape(value)}); use --keypoints network.")
    uv = kp.uv.astype(np.float64) * factor
    rel = kp.xyz_m.astype(np.float64) - kp.xyz_m[0]
    length = unit_length(rel, unit)
    if not length > 0:
        raise ValueError(f"keypoints: {kp.source}'s 3D has a zero-length {unit} bone.")
    xyz_bone = rel / length
    cam = xyz_bone * bone_m
    return uv, xyz_bone, cam + fit_translation(cam, uv, K).numpy()


def _finder_result(path: str, found: Box, finder_record: dict, K: np.ndarray, factor: float,
                   unit: str, bone_m: float, *, side: str) -> PredictResult:
    """`PredictResult` from the finder's own keypoints (`place_finder_keypoints`); no network
    runs."""
    kp = found.keypoints
    uv, xyz_bone, cam = place_finder_keypoints(kp, K, unit, bone_m, factor=factor)
    return PredictResult(
        path=path, uv=uv, xyz_bone=xyz_bone, xyz_cam_m=cam, handedness=side,
        score=found.score, finder=finder_record, K=K, keypoints_source=kp.source,
        crop={"passes": 0, "first_box_px": (found.xyxy * factor).round(2).tolist()},
        notes=[f"keypoints from the finder ({kp.source}), not the network: its 2D as given; "
               f"its 3D shape scaled to the assumed {unit} length ({bone_m} m) and placed to "
               "project onto the 2D under the assumed K"])


def _crop_box(T: np.ndarray, size: int) -> np.ndarray:
    """(4,) the square of the image, pixels, that crop matrix T (image px → crop px) maps onto
    the (size × size) crop."""
    inv = np.linalg.inv(T)
    corners = (inv @ np.array([[0.0, 0.0, 1.0], [size, size, 1.0]]).T).T
    return np.concatenate([corners[0, :2], corners[1, :2]])


def _assumed_bone_m(net: PoseNet) -> float:
    if net.unit not in ASSUMED_BONE_M:
        raise ValueError(f"model: no assumed length for its unit {net.unit!r}; add it to "
                         "infer.predict.ASSUMED_BONE_M.")
    return ASSUMED_BONE_M[net.unit]


def _mesh_record(result: PredictResult, net: PoseNet, out_dir: Path, stem: str,
                 mesh_format: str) -> dict | None:
    """Write the mesh file (module doc) and describe it for the JSON; None without a mesh."""
    if result.vertices_rel_m is None:
        return None
    fitted = result.mesh_source == "fit"
    camera = net.frame == "camera" or fitted
    verts = result.vertices_rel_m + (result.mesh_origin_m if camera else 0.0)
    path = write_mesh(out_dir / f"{stem}_mesh.{mesh_format}", verts.astype(np.float32),
                      result.faces)
    result.outputs.append(str(path))
    return {"file": path.name, "num_vertices": int(len(verts)),
            "num_faces": int(len(result.faces)), "unit": "m",
            "frame": "camera" if camera else "wrist-relative (as keypoints_3d_rel_m)",
            "source": "fitted to the 2D keypoints (infer.fit_mesh)" if fitted else "model",
            "overlay_placement": "the fit's camera-frame 3D" if fitted else
            "the model's camera-frame 3D" if camera else
            "translation fitted to the 2D keypoints (geometry.camera.fit_translation)"}


def _write(result: PredictResult, out_dir: Path, net: PoseNet, stem: str,
           mesh_format: str = "obj") -> None:
    bone = _assumed_bone_m(net)
    result.outputs = []
    mesh = _mesh_record(result, net, out_dir, stem, mesh_format)
    record = {
        "image": result.path, "hand_found": True, "handedness": result.handedness,
        "score": result.score, "finder": result.finder, "crop": result.crop,
        "keypoints_source": result.keypoints_source,
        "joint_names": list(JOINT_NAMES),
        "keypoints_2d_px": result.uv.round(3).tolist(),
        "keypoints_3d_bone_units": result.xyz_bone.round(5).tolist(),
        "keypoints_3d_rel_m": (result.xyz_bone * bone).round(5).tolist(),
        "keypoints_3d_cam_m": None if result.xyz_cam_m is None
        else result.xyz_cam_m.round(5).tolist(),
        "model": {"name": net.cfg.name, "backbone": net.cfg.backbone,
                  "runtime": getattr(net, "runtime", "torch")},
        "assumptions": {"bone_m": bone, "unit": net.unit,
                        "focal_px": "max(W, H) of the image, principal point at the centre",
                        "frame": "camera: x right, y down, z forward; wrist-relative for _rel"},
        "mesh": mesh,
        "notes": result.notes,
    }
    json_path = write_json(out_dir / f"{stem}.json", record)
    image, factor = read_image_rgb(result.path, max_side=1024)
    shown = None
    if mesh is not None:  # the mesh on the shown image: its K is the original's / factor
        K = np.diag([1 / factor, 1 / factor, 1.0]) @ result.K
        shown = [image_mesh(result.vertices_rel_m + result.mesh_origin_m, result.faces, K)]
    overlay = overlay_gallery([image], [result.uv / factor], None, out_dir / f"{stem}_overlay.png",
                              titles=[f"{Path(result.path).name} ({result.handedness})"],
                              meshes=shown)
    plot3d = plot_skeleton_3d(result.xyz_bone * bone, out_dir / f"{stem}_3d.png",
                              title="wrist-relative 3D (m, assumed hand size)")
    result.outputs = [str(json_path), str(overlay), str(plot3d)] + result.outputs


def check_box_on_image(box: tuple[float, float, float, float], width: int, height: int) -> None:
    """Refuse a `--box` (x0, y0, x1, y1 px) that does not overlap the width × height image.

    Raises:
        ValueError: "--box ...: lies outside the image (W×H px)."
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    if x1 <= 0 or y1 <= 0 or x0 >= width or y0 >= height:
        raise ValueError(f"--box {x0:g} {y0:g} {x1:g} {y1:g}: lies outside the image "
                         f"({width}×{height} px).")


def output_stems(files: list[Path]) -> dict[Path, str]:
    """The output name of each image: ``<stem>_<ext>`` (``hand.jpg`` → ``hand_jpg``), unique
    even where names differ only in case (``x.jpg`` and ``x.JPG``: ``x_jpg``, ``x_jpg-2``), so
    no image's outputs replace another's, on case-insensitive file systems too."""
    used: set[str] = set()
    stems = {}
    for path in files:
        stem = base = f"{path.stem}_{path.suffix.lstrip('.').lower()}"
        count = 1
        while stem.casefold() in used:
            count += 1
            stem = f"{base}-{count}"
        used.add(stem.casefold())
        stems[path] = stem
    return stems


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
            out_dir: str | Path = "runs/predict", detector: str = "auto",
            threshold: float | None = None, hand: str = "auto",
            box: tuple[float, float, float, float] | None = None, passes: int | None = None,
            mesh_format: str = "obj", fit_mesh: bool = False, mano_dir: str | None = None,
            detector_ckpt: str | Path | None = None, runtime: str = "torch",
            keypoints: str = "auto", progress: bool = True) -> PredictRun:
    """Predict every image of a file or folder; images without a hand and bad images are
    reported, never raised.

    Args:
        ckpt: finetune/packed checkpoint; None uses the shipped one.
        out_dir: where the JSON and PNG files go (``<stem>_<ext>.json`` etc.).
        detector: the finder (`infer.finders.make_finder`: auto, mediapipe, handkit, trained,
            centre). detector_ckpt: the trained detector's checkpoint ("trained"; with "auto"
            it is used when MediaPipe is not installed).
        threshold: the finder's score threshold (None: its default).
        hand, box, passes: see `predict_image`.
        mesh_format: "obj" or "ply", the file of a mesh model's mesh (module doc).
        fit_mesh, mano_dir: see `predict_image`.
        runtime: "torch" or "onnx" (the network, and the trained detector when it is the
            finder, exported to temporary ONNX files and run in onnxruntime,
            `infer.export.OnnxPoseNet` / `OnnxDetector`; keypoint models only).
        keypoints: "auto", "network" or "finder", see `predict_image`.
    """
    check_choice(mesh_format, MESH_FORMATS, name="mesh_format")
    check_choice(keypoints, KEYPOINT_SOURCES, name="keypoints")
    check_choice(runtime, RUNTIMES, name="runtime")
    with tempfile.TemporaryDirectory(prefix="handkit-onnx-") as tmp:
        net = load_model(ckpt)[0]
        if runtime == "onnx":
            net = _onnx_runner(net, Path(tmp))
        finder = (_box_finder(detector, threshold, keypoints) if box is not None else
                  make_finder(detector, net, threshold=threshold, detector_ckpt=detector_ckpt))
        if box is not None and keypoints == "finder" and finder is None:
            raise ValueError(_FINDER_IN_BOX)
        if runtime == "onnx" and isinstance(finder, DetectorFinder):
            finder.net = _onnx_detector(finder.net, Path(tmp))
        return _predict_files(net, source, out_dir, progress=progress, hand=hand,
                              box=box, passes=passes, fit_mesh=fit_mesh, mano_dir=mano_dir,
                              mesh_format=mesh_format, finder=finder, keypoints=keypoints)


def _box_finder(detector: str, threshold: float | None, keypoints: str) -> HandFinder | None:
    """The finder that searches a given box: MediaPipe when it would be the finder and its
    keypoints may answer (`MediaPipeFinder.find_in_box`), else None (the network on the box)."""
    if keypoints == "network" or detector not in ("auto", "mediapipe"):
        return None
    if detector == "auto" and not mediapipe_available():
        return None
    return make_finder("mediapipe", threshold=threshold)


def _onnx_runner(net: PoseNet, folder: Path):
    """`net` exported into `folder` and wrapped to run in onnxruntime."""
    from handkit.infer.evaluate import gives_vertices
    from handkit.infer.export import OnnxPoseNet, export_onnx, onnx_session

    if gives_vertices(net):
        raise ValueError(f"runtime: 'onnx' runs keypoint models; {net.cfg.name} also predicts "
                         "a mesh, which the exported graph does not return. Use --runtime "
                         "torch.")
    return OnnxPoseNet(net, onnx_session(export_onnx(net, folder / "model.onnx"),
                                         threads=max(1, torch.get_num_threads())))


def _onnx_detector(net, folder: Path):
    """The trained hand detector exported into `folder` and wrapped to run in onnxruntime."""
    from handkit.infer.export import OnnxDetector, export_detector_onnx, onnx_session

    return OnnxDetector(net, onnx_session(export_detector_onnx(net, folder / "detector.onnx"),
                                          threads=max(1, torch.get_num_threads())))


def _predict_files(net, source, out_dir, *, progress: bool, hand: str, box, passes,
                   fit_mesh: bool, mano_dir, mesh_format: str, finder,
                   keypoints: str) -> PredictRun:
    """`predict`'s loop over the images of `source` with a loaded `net` and `finder`."""
    from tqdm import tqdm

    run = PredictRun()
    files = _inputs(Path(source))
    stems = output_stems(files)
    for path in tqdm(files, desc="predict", unit="img", disable=not progress or len(files) < 2):
        stem = stems[path]
        try:
            result = predict_image(net, path, finder=finder, hand=hand, box=box, passes=passes,
                                   fit_mesh=fit_mesh, mano_dir=mano_dir, keypoints=keypoints)
            _write(result, Path(out_dir), net, stem, mesh_format)
        except NoHand as err:
            why = str(err).replace(f"{path}: ", "").removeprefix("no hand: ")
            write_json(Path(out_dir) / f"{stem}.json",
                        {"image": str(path), "hand_found": False,
                         "finder": {"name": err.finder, "threshold": err.threshold},
                         "notes": [why]})
            run.no_hand.append((str(path), why))
            continue
        except (ValueError, FileNotFoundError, FileExistsError) as err:
            run.skipped.append((str(path), str(err).replace(f"{path}: ", "")))
            continue
        run.results.append(result)
    return run
