"""InterHand2.6M (5 fps, v1.0), read from its released layout (specs/digit.md §3).

Layout::

    <root>/annotations/skeleton.txt                                  [optional; checked if present]
    <root>/annotations/<split>/InterHand2.6M_<split>_data.json       COCO-like images/annotations
    <root>/annotations/<split>/InterHand2.6M_<split>_camera.json     per capture, per camera
    <root>/annotations/<split>/InterHand2.6M_<split>_joint_3d.json   per capture, per frame
    <root>/images/<split>/Capture<c>/<seq>/cam<cam>/image<frame>.jpg
    <root>/segm_32/<split>/Capture<c>/<seq>/cam<cam>/image<frame>.png  [optional part masks]

Per image (one annotation each, matched by ``image_id``):

* ``joint_cam = R · (X_world − campos)`` (mm, ``camrot`` is world→camera), then mm → m.
* ``K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]``; ``keypoints_2d`` = pinhole projection (no
  distortion, as the official code).
* 42 joints (right 0-20, left 21-41, each tips-first with the wrist last) → two hands in handkit
  order via ``skeleton.convert(..., "interhand", "handkit")``: N = 2, ``is_right = [True, False]``.
* ``joint_valid`` = the annotation's joint_valid × its hand's wrist validity (the official rule:
  an invalid root invalidates the whole hand). A hand absent from the image (hand_type
  "right"/"left") thus has no valid joint.
* Part masks (DIGIT's ``segm_32``, specs/digit.md §2.3: 33 classes, written by ``handkit synth
  interhand`` or rendered from MANO fits; one channel, or three identical ones as the official
  LMDB repacks them) become ``part_seg`` in handkit's encoding (`data.part_masks`); an image
  without a mask file has ``part_seg = None`` (DIGIT then sets ``segm_valid = 0``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from handkit.data.formats._base import FormatDataset
from handkit.data.formats._io import get_field, read_image, read_json, to_array
from handkit.data.formats.interhand_lmdb import InterHandLMDB
from handkit.data.part_masks import NUM_CLASSES, from_digit_classes
from handkit.geometry.camera import project_points
from handkit.data.schema import Sample, SampleError
from handkit.hand.skeleton import INTERHAND_LEFT, INTERHAND_RIGHT, convert
from handkit.utils.check import check_choice

__all__ = ["InterHand26M", "HAND_TYPES", "camera_to_K", "world_to_camera", "split_hands",
           "read_part_mask", "read_rootnet"]

HAND_TYPES = ("right", "left", "interacting")
_ROOTS = (20, 41)  # right wrist, left wrist (InterHand indices)


def world_to_camera(world: np.ndarray, camrot: np.ndarray, campos: np.ndarray) -> np.ndarray:
    """InterHand2.6M's world → camera transform.

    Args:
        world: (J, 3) world coordinates, mm.
        camrot: (3, 3) world→camera rotation R.
        campos: (3,) camera centre C in world coordinates, mm.

    Returns:
        (J, 3) camera coordinates R·(X − C), same unit (x right, y down, z forward).
    """
    return (world - campos[None]) @ camrot.T


def camera_to_K(focal: Sequence[float], princpt: Sequence[float]) -> np.ndarray:
    """(3, 3) float32 pixel intrinsics from InterHand2.6M's ``focal`` [fx, fy], ``princpt`` [cx, cy]."""
    return np.array([[focal[0], 0, princpt[0]], [0, focal[1], princpt[1]], [0, 0, 1]], np.float32)


def split_hands(cam_mm: np.ndarray, valid: np.ndarray, source: Path | str,
                field: str) -> tuple[np.ndarray, np.ndarray]:
    """InterHand-layout 42 joints (right 0-20, left 21-41) → two hands in handkit order.

    Args:
        cam_mm: (42, 3) float, mm, camera frame, InterHand order per hand.
        valid: (42,) bool joint validity; a hand whose wrist (20 / 41) is invalid becomes
            wholly invalid (InterHand2.6M's rule).
        source, field: named in the error.

    Returns:
        (2, 21, 3) float32 meters and (2, 21) bool, hands [right, left], handkit order; non-finite
        coordinates of invalid joints are set to 0.

    Raises:
        SampleError: a valid joint is NaN or inf.
    """
    valid = valid.copy()
    for root_index, hand in zip(_ROOTS, (INTERHAND_RIGHT, INTERHAND_LEFT)):
        valid[hand] &= valid[root_index]
    bad = ~np.isfinite(cam_mm).all(1) & valid
    if bad.any():
        raise SampleError(f"{source}: {field}: contains NaN or inf at valid joint "
                          f"{int(np.argmax(bad))}.")
    cam_m = np.where(np.isfinite(cam_mm), cam_mm, 0.0) / 1000.0
    hands = (INTERHAND_RIGHT, INTERHAND_LEFT)
    xyz = np.stack([convert(cam_m[h], "interhand", "handkit") for h in hands])
    valid2 = np.stack([convert(valid[h, None], "interhand", "handkit")[:, 0] for h in hands])
    return xyz.astype(np.float32), valid2


def _check_skeleton(path: Path) -> None:
    """skeleton.txt ("name id parent" lines) must describe the order this loader assumes."""
    names = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and not line.startswith("#") and parts[1].isdigit():
            names[int(parts[1])] = parts[0]
    expected = {0: "r_thumb4", 3: "r_thumb1", 20: "r_wrist", 21: "l_thumb4", 41: "l_wrist"}
    for index, name in expected.items():
        if names.get(index) != name:
            raise SampleError(f"{path}: joint {index}: expected {name!r}, got "
                              f"{names.get(index)!r}; this is not the InterHand2.6M v1.0 skeleton.")


def read_part_mask(path: Path | str, size: tuple[int, int], *,
                   data: bytes | None = None) -> np.ndarray:
    """A DIGIT part mask (PNG, 33-class ids; 1 channel or 3 equal ones) → `Sample.part_seg`.

    Args:
        path: the mask file (or, with `data`, where the bytes came from, for messages).
        size: (H, W) of its image.
        data: the encoded mask (e.g. an LMDB value) instead of reading `path`.

    Raises:
        SampleError: undecodable, wrong size, unequal channels or a class id ≥ 33 (the message
            names the file).
    """
    data = np.frombuffer(Path(path).read_bytes() if data is None else data, np.uint8)
    mask = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if mask is None:
        raise SampleError(f"{path}: part mask: cannot decode (corrupt or not an image).")
    if mask.ndim == 3:
        if not all(np.array_equal(mask[..., 0], mask[..., c]) for c in range(1, mask.shape[2])):
            raise SampleError(f"{path}: part mask: its {mask.shape[2]} channels differ; expected "
                              "one label channel or identical copies.")
        mask = mask[..., 0]
    if mask.dtype != np.uint8 or mask.shape != tuple(size):
        raise SampleError(f"{path}: part mask: expected uint8 {tuple(size)} like its image, got "
                          f"{mask.dtype} {mask.shape}.")
    if mask.max(initial=0) >= NUM_CLASSES:
        raise SampleError(f"{path}: part mask: class id {int(mask.max())} >= {NUM_CLASSES}.")
    return from_digit_classes(mask)


def read_rootnet(root: str | Path, split: str) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """RootNet's output for a split (specs/digit.md §3.2, §3.9):
    ``<root>/rootnet_output/rootnet_interhand2.6m_output_<split>.json``.

    Returns:
        annot_id → (bbox (4,) [x, y, w, h] px as stored (already square × 1.25; DIGIT uses it
        as is), abs_depth (2,) meters [right, left]).

    Raises:
        FileNotFoundError / SampleError: missing file, or an entry without ``annot_id``,
        ``bbox`` [4] or ``abs_depth`` [2] (named with its index).
    """
    path = Path(root) / "rootnet_output" / f"rootnet_interhand2.6m_output_{split}.json"
    entries = read_json(path, "RootNet output")
    if not isinstance(entries, list):
        raise SampleError(f"{path}: expected a list of {{annot_id, bbox, abs_depth}}, got "
                          f"{type(entries).__name__}.")
    out = {}
    for i, entry in enumerate(entries):
        annot = int(get_field(entry, "annot_id", path, f"[{i}].annot_id"))
        bbox = to_array(get_field(entry, "bbox", path, f"[{i}].bbox"), "4", path, f"[{i}].bbox",
                        dtype=np.float64)
        depth = to_array(get_field(entry, "abs_depth", path, f"[{i}].abs_depth"), "2", path,
                         f"[{i}].abs_depth", dtype=np.float64)
        out[annot] = (bbox, depth / 1000.0)
    return out


class InterHand26M(FormatDataset):
    """InterHand2.6M as a map-style Dataset of two-hand `Sample`s (N = 2: right, left).

    Args:
        root: the directory holding ``annotations/`` and ``images/``.
        split: ``train``, ``val`` or ``test``.
        hand_types: keep only images whose ``hand_type`` is in this subset of `HAND_TYPES`
            (default all, in data.json order).

    Sample: ``keypoints_3d`` (2, 21, 3) meters, camera frame; ``keypoints_2d`` (2, 21, 2);
    ``K``; ``is_right`` = [True, False]; ``sample_id`` = ``"<split>/<file_name>"`` (the
    official LMDB key); ``video_id`` = ``"Capture<c>/<seq>/cam<cam>"``; ``frame_id`` =
    ``frame_idx``. ``extras``: ``hand_type``, ``hand_type_valid``, ``bbox`` ([x, y, w, h] px),
    ``capture``, ``camera``, ``annot_id``. ``part_seg`` / ``mask`` from ``segm_32/`` when the
    image has a mask file, else None.

    `images_lmdb` / `masks_lmdb`: read images and masks from DIGIT's LMDB files instead
    (`data.formats.interhand_lmdb`; a key missing from the masks LMDB means no mask).
    """

    name = "interhand"

    def __init__(self, root: str | Path, split: str = "train", *,
                 hand_types: Sequence[str] = HAND_TYPES, images_lmdb: str | Path | None = None,
                 masks_lmdb: str | Path | None = None):
        check_choice(split, ("train", "val", "test"), name="split")
        self.images_lmdb = None if images_lmdb is None else InterHandLMDB(images_lmdb)
        self.masks_lmdb = None if masks_lmdb is None else InterHandLMDB(masks_lmdb)
        for t in hand_types:
            check_choice(t, HAND_TYPES, name="hand_types")
        self.root, self.split = Path(root), split
        ann_dir = self.root / "annotations" / split
        if (self.root / "annotations" / "skeleton.txt").is_file():
            _check_skeleton(self.root / "annotations" / "skeleton.txt")
        self.files = {k: ann_dir / f"InterHand2.6M_{split}_{k}.json"
                      for k in ("data", "camera", "joint_3d")}
        data = read_json(self.files["data"], "InterHand2.6M images and annotations")
        self.cameras = read_json(self.files["camera"], "InterHand2.6M cameras")
        self.joints = read_json(self.files["joint_3d"], "InterHand2.6M world joints")
        src = self.files["data"]
        images = get_field(data, "images", src)
        annotations = get_field(data, "annotations", src)
        by_image = {}
        for i, ann in enumerate(annotations):
            by_image[get_field(ann, "image_id", src, f"annotations[{i}].image_id")] = ann
        self.items: list[tuple[dict, dict]] = []
        for i, img in enumerate(images):
            image_id = get_field(img, "id", src, f"images[{i}].id")
            ann = get_field(by_image, image_id, src, f"annotations[image_id={image_id}]")
            field = f"annotations[image_id={image_id}].hand_type"
            hand_type = get_field(ann, "hand_type", src, field)
            if hand_type not in HAND_TYPES:  # else it would vanish from every hand_types filter
                raise SampleError(f"{src}: {field}: expected one of {list(HAND_TYPES)}, got "
                                  f"{hand_type!r}.")
            if hand_type in hand_types:
                self.items.append((img, ann))

    def __len__(self) -> int:
        return len(self.items)

    def sample_id(self, index: int) -> str:
        return f"{self.split}/{self.items[index][0].get('file_name', index)}"

    def camera(self, capture: str, cam: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        src = self.files["camera"]
        params = get_field(self.cameras, capture, src, f"[{capture!r}]")
        out = []
        for key, pattern in (("camrot", "3 3"), ("campos", "3"), ("focal", "2"),
                             ("princpt", "2")):
            field = f"[{capture!r}].{key}[{cam!r}]"
            table = get_field(params, key, src, f"[{capture!r}].{key}")
            out.append(to_array(get_field(table, cam, src, field), pattern, src, field,
                                dtype=np.float64))
        camrot, campos, focal, princpt = out
        return camrot, campos, camera_to_K(focal, princpt)

    def capture_camera(self, index: int) -> tuple[str, str]:
        """(capture, camera) ids of item `index`, from its ``file_name`` (as the official
        loader: component 0 without "Capture", component 2 without "cam")."""
        img = self.items[index][0]
        data, where = self.files["data"], f"images[id={img.get('id')}]"
        file_name = get_field(img, "file_name", data, f"{where}.file_name")
        parts = str(file_name).split("/")
        if len(parts) != 4 or not parts[0].startswith("Capture") or not parts[2].startswith("cam"):
            raise SampleError(f"{data}: {where}.file_name: expected "
                              f"'Capture<c>/<seq>/cam<cam>/image<frame>.jpg', got {file_name!r}.")
        return parts[0][len("Capture"):], parts[2][len("cam"):]

    def _load(self, index: int) -> tuple[Sample, str]:
        img, ann = self.items[index]
        data = self.files["data"]
        where = f"images[id={img.get('id')}]"
        capture, cam = self.capture_camera(index)
        file_name = img["file_name"]
        parts = str(file_name).split("/")
        frame = int(get_field(img, "frame_idx", data, f"{where}.frame_idx"))
        camrot, campos, K = self.camera(capture, cam)

        field = f"annotations[{where}].joint_valid"
        raw = get_field(ann, "joint_valid", data, field)
        valid = to_array(raw, "42 1" if np.ndim(raw) == 2 else "42", data, field).reshape(42) > 0
        src, field = self.files["joint_3d"], f"[{capture!r}][{str(frame)!r}].world_coord"
        per_frame = get_field(get_field(self.joints, capture, src, f"[{capture!r}]"), str(frame),
                              src, f"[{capture!r}][{str(frame)!r}]")
        world = to_array(get_field(per_frame, "world_coord", src, field), "42 3", src, field,
                         dtype=np.float64, finite=False)
        xyz, valid2 = split_hands(world_to_camera(world, camrot, campos), valid, src, field)
        path = self.root / "images" / self.split / file_name
        key = f"{self.split}/{file_name}"
        image = self.images_lmdb.image(key) if self.images_lmdb else read_image(path)
        segm_path = (self.root / "segm_32" / self.split / file_name).with_suffix(".png")
        if self.masks_lmdb is not None:
            mask_key = str(Path(key).with_suffix(".png").as_posix())
            value = self.masks_lmdb.get(mask_key)
            part_seg = None if value is None else read_part_mask(
                f"{self.masks_lmdb.path}:{mask_key}", image.shape[:2], data=value)
        else:
            part_seg = (read_part_mask(segm_path, image.shape[:2]) if segm_path.is_file()
                        else None)
        sample = Sample(
            image=image, keypoints_2d=project_points(xyz, K).astype(np.float32),
            joint_valid=valid2, part_seg=part_seg,
            mask=None if part_seg is None else part_seg > 0,
            is_right=np.array([True, False]), K=K, keypoints_3d=xyz, dataset=self.name,
            sample_id=f"{self.split}/{file_name}", video_id=f"Capture{capture}/{parts[1]}/cam{cam}",
            frame_id=frame,
            extras={"hand_type": ann.get("hand_type"),
                    "hand_type_valid": bool(ann.get("hand_type_valid", 1)),
                    "bbox": np.asarray(ann.get("bbox", [0, 0, 0, 0]), np.float32),
                    "capture": int(capture), "camera": cam, "annot_id": ann.get("id")})
        return sample, str(path)
