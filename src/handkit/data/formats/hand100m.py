"""The Hand100M annotation JSON of SiMHand's pre-training loaders (specs/pretrain.md §2.2).

Layout (one file per source and scale, `<root>/annotations/<Source>/Hand100M_<Source>_<scale>_v1-1.json`,
`images[].file_name` relative to `<root>`)::

    {"images": [{"id": ..., "file_name": "...", "width": W, "height": H,
                 "video_id": "..." (handkit, optional), "frame_id": k (handkit, optional)}, ...],
     "annotations": [{"hand_id": "<unique string>", "image_id": <images[].id>,
                      "boxes": "[x1, y1, x2, y2]",   # a JSON-encoded STRING, full-frame pixels
                      "keypoint_25d": [63 floats],   # 21x3, x, y normalised to the 224 crop; 3rd ignored
                      "left_right": "Left" | "Right",
                      "positive_sample": ["<hand_id>", ...],  # ranked, [0] is used
                      "distance": [float, ...]}, ...]}        # aligned with positive_sample

`read_annotations` validates all of it (errors name the file and the field), `write_annotations`
writes it atomically, `Hand100MDataset` returns one `Sample` per hand crop with the official
per-sample processing, and `Hand100MPairDataset` yields SiMHand's (anchor, top-1 positive) pairs
(specs/pretrain.md §1.6.1).

**Convention:** keypoints are stored in handkit order (the official order is unstated and any
fixed order works for pre-training, §2.2). `boxes` are in the handkit pixel convention of the
full frame.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from torch.utils.data import Dataset

from handkit.data.formats._io import read_image
from handkit.data.hands import mirror_to_right
from handkit.data.schema import Sample, SampleError
from handkit.hand.skeleton import mirror_uv
from handkit.utils.files import atomic_open

__all__ = [
    "Hand100MAnnotations", "read_annotations", "write_annotations", "crop_window",
    "crop_and_resize", "Hand100MDataset", "Hand100MPairDataset", "CROP_SCALE", "CROP_SIZE",
]

CROP_SCALE = 1.3
"""Box enlargement of the official loaders (`SCALE` in `S:src/data_loader/ego4d_loader.py`)."""
CROP_SIZE = 224
"""Side of the square crop the keypoints are normalised to (`CROP_SIZE`)."""
_SIDES = ("Left", "Right")


@dataclass
class Hand100MAnnotations:
    """A validated Hand100M annotation file, column-oriented (M hands, I images).

    Attributes:
        path: the file read (named in errors).
        images: image id -> the image record (dict with at least `id`, `file_name`).
        hand_ids: (M,) unique strings.
        image_ids: (M,) ids into `images`.
        boxes: (M, 4) float64, x1, y1, x2, y2, full-frame pixels.
        keypoints: (M, 21, 3) float32, x, y normalised to the crop (0..1); 3rd value as stored.
        is_right: (M,) bool, from `left_right`.
        positives: M lists of hand_ids, ranked (may be empty before mining).
        distances: M lists of floats aligned with `positives`.
        records: the raw annotation dicts (kept so rewriting preserves unknown fields).
    """

    path: Path
    images: dict[Any, dict]
    hand_ids: list[str]
    image_ids: list[Any]
    boxes: np.ndarray
    keypoints: np.ndarray
    is_right: np.ndarray
    positives: list[list[str]]
    distances: list[list[float]]
    records: list[dict]

    def __len__(self) -> int:
        return len(self.hand_ids)

    def index_of(self) -> dict[str, int]:
        """hand_id -> row (SiMHand's `id_to_index_dict`)."""
        return {h: i for i, h in enumerate(self.hand_ids)}

    def video_ids(self) -> list[str]:
        """(M,) the `video_id` of each hand's image, "" where the image record has none."""
        return [str(self.images[i].get("video_id", "")) for i in self.image_ids]

    def frame_ids(self) -> np.ndarray:
        """(M,) int64 `frame_id` of each hand's image, -1 where the image record has none."""
        return np.array([int(self.images[i].get("frame_id", -1)) for i in self.image_ids],
                        dtype=np.int64)


def _fail(path: Any, where: str, message: str) -> ValueError:
    return ValueError(f"{path}: {where}: {message}")


def _finite_floats(value: Any, n: int, path: Any, where: str) -> np.ndarray:
    """(n,) float64 from a list/array of n finite numbers, else a ValueError naming `where`."""
    if not isinstance(value, (list, tuple, np.ndarray)) or len(value) != n:
        got = f"{len(value)} values" if isinstance(value, (list, tuple, np.ndarray)) \
            else type(value).__name__
        raise _fail(path, where, f"expected {n} numbers, got {got}.")
    try:
        arr = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        arr = None
    if arr is None or len(arr) != n or not np.isfinite(arr).all():
        bad = next((v for v in np.ravel(np.asarray(value, dtype=object))
                    if isinstance(v, bool) or not isinstance(v, (int, float, np.number))
                    or not math.isfinite(v)), None)
        raise _fail(path, where, f"expected finite numbers, got {bad!r}.")
    return arr


def _parse_box(value: Any, path: Any, where: str, *, strict: bool) -> list[float]:
    """`boxes` is a JSON-encoded string in the official files; `strict=False` also takes a list."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as err:
            raise _fail(path, where, f"not a JSON-encoded list ({err}); expected "
                        "'[x1, y1, x2, y2]'.") from None
    elif strict:
        raise _fail(path, where, f"expected a JSON-encoded STRING '[x1, y1, x2, y2]', got "
                    f"{type(value).__name__}; Hand100M stores boxes as json.dumps(list).")
    box = _finite_floats(value, 4, path, where)
    if box[2] <= box[0] or box[3] <= box[1]:
        raise _fail(path, where, f"expected x2 > x1 and y2 > y1, got {box.tolist()}.")
    return box


def _parse_annotation(rec: Any, i: int, path: Any, images: dict, *, strict: bool) -> tuple:
    if not isinstance(rec, dict):
        raise _fail(path, f"annotations[{i}]", f"expected an object, got {type(rec).__name__}.")
    hid = rec.get("hand_id")
    tag = f"annotations[{i}] (hand_id {hid!r})"
    for key in ("hand_id", "image_id", "boxes", "keypoint_25d", "left_right"):
        if key not in rec:
            raise _fail(path, f"{tag}.{key}", "missing.")
    if not isinstance(hid, str) or not hid:
        raise _fail(path, f"{tag}.hand_id", "expected a non-empty string (SiMHand looks "
                    "positives up by str(hand_id)).")
    if rec["image_id"] not in images:
        raise _fail(path, f"{tag}.image_id", f"{rec['image_id']!r} is not an id in images[].")
    box = _parse_box(rec["boxes"], path, f"{tag}.boxes", strict=strict)
    kp = _finite_floats(rec["keypoint_25d"], 63, path, f"{tag}.keypoint_25d")
    side = rec["left_right"]
    if side not in _SIDES:
        raise _fail(path, f"{tag}.left_right", f"expected one of {list(_SIDES)}, got {side!r}.")
    pos = rec.get("positive_sample", [])
    dist = rec.get("distance", [])
    if not isinstance(pos, list) or not isinstance(dist, list):
        raise _fail(path, f"{tag}.positive_sample", "positive_sample and distance must be lists.")
    if len(pos) != len(dist):
        raise _fail(path, f"{tag}.distance", f"has {len(dist)} values but positive_sample has "
                    f"{len(pos)}; they must be aligned.")
    dist = _finite_floats(dist, len(dist), path, f"{tag}.distance")
    return hid, box, kp, side == "Right", [str(p) for p in pos], dist.tolist()


def _validate(data: Any, path: Any, *, strict: bool) -> Hand100MAnnotations:
    if not isinstance(data, dict):
        raise _fail(path, "top level", f"expected an object, got {type(data).__name__}.")
    for key in ("images", "annotations"):
        if not isinstance(data.get(key), list):
            raise _fail(path, key, "missing or not a list.")
    images: dict[Any, dict] = {}
    for j, img in enumerate(data["images"]):
        if not isinstance(img, dict) or "id" not in img or "file_name" not in img:
            raise _fail(path, f"images[{j}]", "expected an object with 'id' and 'file_name'.")
        if not isinstance(img["file_name"], str):
            raise _fail(path, f"images[{j}].file_name", "expected a string.")
        if img["id"] in images:
            raise _fail(path, f"images[{j}].id", f"duplicate id {img['id']!r}.")
        images[img["id"]] = img
    records = data["annotations"]
    m = len(records)
    boxes = np.empty((m, 4), np.float64)
    kps = np.empty((m, 63), np.float32)
    is_right = np.empty(m, bool)
    hand_ids, positives, distances, seen = [], [], [], {}
    for i, rec in enumerate(records):
        hid, box, kp, right, pos, dist = _parse_annotation(rec, i, path, images, strict=strict)
        if hid in seen:
            raise _fail(path, f"annotations[{i}].hand_id", f"duplicate {hid!r} (first at "
                        f"annotations[{seen[hid]}]); hand_ids must be unique.")
        seen[hid] = i
        hand_ids.append(hid)
        boxes[i], kps[i], is_right[i] = box, kp, right
        positives.append(pos)
        distances.append(dist)
    for i, pos in enumerate(positives):
        for p in pos:
            if p not in seen:
                raise _fail(path, f"annotations[{i}] (hand_id {hand_ids[i]!r}).positive_sample",
                            f"{p!r} is not a hand_id of this file (positives must lie in the "
                            "same file).")
    return Hand100MAnnotations(
        path=Path(path), images=images, hand_ids=hand_ids,
        image_ids=[r["image_id"] for r in records], boxes=boxes,
        keypoints=kps.reshape(m, 21, 3), is_right=is_right, positives=positives,
        distances=distances, records=records)


def read_annotations(path: str | os.PathLike) -> Hand100MAnnotations:
    """Read and validate a Hand100M annotation JSON.

    Raises:
        FileNotFoundError: no such file.
        ValueError: malformed JSON or a bad field, e.g.
            "<file>: annotations[3] (hand_id '17').boxes: ...".
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: Hand100M annotation file not found.")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err}).") from None
    return _validate(data, path, strict=True)


def _to_record(rec: dict) -> dict:
    """Canonical JSON record: boxes as a JSON string, keypoint_25d a flat list of 63 floats."""
    out = dict(rec)
    box = out.get("boxes")
    if not isinstance(box, str) and box is not None:
        out["boxes"] = json.dumps([float(v) for v in np.asarray(box, dtype=np.float64).ravel()])
    kp = out.get("keypoint_25d")
    if kp is not None and not isinstance(kp, list):  # arrays: 1e-6 of the crop (2e-4 px)
        out["keypoint_25d"] = np.round(np.asarray(kp, dtype=np.float64).reshape(-1), 6).tolist()
    out.setdefault("positive_sample", [])
    out.setdefault("distance", [])
    out["positive_sample"] = [str(p) for p in out["positive_sample"]]
    out["distance"] = [float(d) for d in out["distance"]]
    return out


def _dump_list(f, items: list, chunk: int = 8192) -> None:
    """json.dump of a list in chunks: json.dumps uses the C encoder (json.dump does not), and
    memory stays at one chunk's text."""
    f.write("[")
    for start in range(0, len(items), chunk):
        if start:
            f.write(",")
        f.write(json.dumps(items[start:start + chunk], separators=(",", ":"))[1:-1])
    f.write("]")


def write_annotations(path: str | os.PathLike, images: list[dict],
                      annotations: list[dict], *, validate: bool = True) -> Path:
    """Validate and write a Hand100M annotation JSON atomically (`utils.files.atomic_open`).

    Args:
        path: output file; parent folders are created.
        images: dicts with `id`, `file_name` (relative to the dataset root), `width`, `height`
            and, optionally, `video_id` and `frame_id` (handkit additions the miner uses).
        annotations: dicts with `hand_id` (str), `image_id`, `boxes` ([x1, y1, x2, y2] list or
            array, or the already-encoded string), `keypoint_25d` (63 floats or a (21, 3)
            array, x, y normalised to the 224 crop), `left_right` ("Left"/"Right"), and
            optionally `positive_sample` / `distance` (empty lists before mining).
        validate: canonicalise and check every record (default). `False` writes the records
            as given: only for callers whose records are already canonical and checked (the
            miner rewriting a file it read), saving ~half the time at millions of hands.

    Returns:
        The path written. A reader never sees a half-written file.

    Raises:
        ValueError: a bad field, naming the output file and the field.
    """
    path = Path(path)
    images = list(images)
    if validate:
        records = [_to_record(r) if isinstance(r, dict) else r for r in annotations]
        _validate({"images": images, "annotations": records}, path, strict=True)
    else:
        records = list(annotations)
    with atomic_open(path) as f:
        f.write('{"images":')
        _dump_list(f, images)
        f.write(',"annotations":')
        _dump_list(f, records)
        f.write("}")
    return path


def crop_window(box, scale: float, width: int, height: int) -> tuple[int, int, int, int]:
    """The official crop window of `crop_and_resize` (`S:src/data_loader/utils.py`).

    The box is int-truncated, each side moved out by `int((int(w * scale) - w) / 2)`, then a
    square of half-size `max(w', h') // 2` is taken around the enlarged box's centre and clamped
    to the image; it is NOT padded, so near a border the window is not square.

    Args:
        box: 4 numbers x1, y1, x2, y2, full-frame pixels.
        width, height: image size in pixels.

    Returns:
        (x1, y1, x2, y2) ints, the slice `image[y1:y2, x1:x2]`.
    """
    x1, y1, x2, y2 = (int(v) for v in box)
    w, h = x2 - x1, y2 - y1
    dx, dy = int((int(w * scale) - w) / 2), int((int(h * scale) - h) / 2)
    sx1, sy1, sx2, sy2 = x1 - dx, y1 - dy, x2 + dx, y2 + dy
    cx, cy = (sx1 + sx2) / 2, (sy1 + sy2) / 2
    half = max(sx2 - sx1, sy2 - sy1) // 2
    return (max(0, int(cx - half)), max(0, int(cy - half)),
            min(width, int(cx + half)), min(height, int(cy + half)))


def crop_and_resize(image: np.ndarray, box, scale: float = CROP_SCALE,
                    size: int = CROP_SIZE) -> np.ndarray:
    """Crop `image` (H, W, C) uint8 by `crop_window` and resize it to (size, size, C) (bilinear,
    cv2's default, as the official loader). Raises ValueError if the window is empty."""
    x1, y1, x2, y2 = crop_window(box, scale, image.shape[1], image.shape[0])
    if x2 <= x1 or y2 <= y1:
        raise ValueError(f"boxes: {list(box)} gives an empty crop in a "
                         f"{image.shape[1]}x{image.shape[0]} image.")
    return cv2.resize(image[y1:y2, x1:x2], (size, size))


def _default_root(path: Path) -> Path:
    # <root>/annotations/<Source>/file.json -> <root>; otherwise the file's folder.
    if path.parent.parent.name == "annotations":
        return path.parent.parent.parent
    return path.parent


class Hand100MDataset(Dataset):
    """One `Sample` per annotated hand, processed as `EGO4D_DB.__getitem__` (§2.2).

    Per sample: read the frame (RGB), `crop_and_resize(box, scale, size)` without padding,
    keypoints x, y times `size`; a left hand is flipped (crop and u -> size - u) when
    `flip_left` (the official behaviour). The Sample has one hand: `keypoints_2d` (1, 21, 2)
    pixels of the crop, `joint_valid` all True (detector keypoints the augmenter and the
    adaptive weights use; the official `joints_valid = 0` only means no keypoint loss),
    `is_right` True for a flipped left crop, K None (in-the-wild crop; the official code passes
    I3 as a placeholder). `extras`: `hand_id`, `positive_ids`, `distances`, `positive_index`
    (row of the top-1 positive, -1 if none), `keypoints_raw` (21, 3) normalised, flipped like
    the crop, `flipped`, `left_right` (as stored), `image_path`.

    Args:
        path: annotation JSON.
        root: dataset root that `file_name`s are relative to; default `<root>` of
            `<root>/annotations/<Source>/<file>.json`, else the file's folder.
        flip_left: mirror left crops to right hands (official: True).
        scale, size: crop enlargement and output side (official 1.3, 224).
    """

    def __init__(self, path: str | os.PathLike, root: str | os.PathLike | None = None, *,
                 flip_left: bool = True, scale: float = CROP_SCALE, size: int = CROP_SIZE):
        if scale <= 0 or size <= 0:
            raise ValueError(f"scale, size: expected > 0, got {scale}, {size}.")
        self.ann = read_annotations(path)
        self.root = Path(root) if root is not None else _default_root(Path(path))
        self.flip_left, self.scale, self.size = flip_left, float(scale), int(size)
        self.index = self.ann.index_of()

    def __len__(self) -> int:
        return len(self.ann)

    def image_path(self, i: int) -> Path:
        return self.root / self.ann.images[self.ann.image_ids[i]]["file_name"]

    def __getitem__(self, i: int) -> Sample:
        ann, file = self.ann, self.image_path(i)
        try:
            image = read_image(file)
        except (OSError, SampleError) as err:
            raise SampleError(f"{file}: cannot read the image of hand_id {ann.hand_ids[i]!r} "
                              f"(listed in {ann.path}): {err}") from None
        try:
            crop = crop_and_resize(image, ann.boxes[i], self.scale, self.size)
        except ValueError as err:
            raise SampleError(f"{ann.path}: hand_id {ann.hand_ids[i]!r}: {err}") from None
        raw = ann.keypoints[i].copy()
        uv = raw[:, :2] * np.float32(self.size)
        flipped = bool(self.flip_left and not ann.is_right[i])
        if flipped:
            crop, uv, _, _ = mirror_to_right(crop, uv)
            raw = mirror_uv(raw, 1.0)  # the same mirror in normalised coordinates
        image = self.ann.images[ann.image_ids[i]]
        pos = ann.positives[i]
        return Sample(
            image=crop, keypoints_2d=uv[None].astype(np.float32),
            joint_valid=np.ones((1, 21), bool), is_right=np.array([ann.is_right[i] or flipped]),
            dataset="hand100m", sample_id=ann.hand_ids[i],
            video_id=str(image.get("video_id", "")), frame_id=int(image.get("frame_id", -1)),
            extras={"hand_id": ann.hand_ids[i], "positive_ids": list(pos),
                    "distances": list(ann.distances[i]),
                    "positive_index": self.index[pos[0]] if pos else -1,
                    "keypoints_raw": raw, "flipped": flipped,
                    "left_right": "Right" if ann.is_right[i] else "Left",
                    "image_path": str(file)},
        )


class Hand100MPairDataset(Dataset):
    """SiMHand's mined pairs: item i is (anchor = base[i], positive = base[top-`rank` neighbour]).

    As `Data_Set.__getitem__` for the simhand experiments (§1.6.1): the positive is a second
    full read and crop; the two are augmented independently by the task. Every hand must have a
    positive (the official loader would fail at `positive_sample[0]`).

    Args:
        base: the single-hand dataset.
        rank: which ranked neighbour is the positive (official: 0, the top-1).
    """

    def __init__(self, base: Hand100MDataset, rank: int = 0):
        self.base, self.rank = base, int(rank)
        short = [h for h, p in zip(base.ann.hand_ids, base.ann.positives) if len(p) <= self.rank]
        if short:
            raise ValueError(f"{base.ann.path}: positive_sample: {len(short)} hands have fewer "
                             f"than {self.rank + 1} positives (first: hand_id {short[0]!r}); "
                             "mine them first with `handkit mine`.")

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> tuple[Sample, Sample]:
        j = self.base.index[self.base.ann.positives[i][self.rank]]
        return self.base[i], self.base[j]
