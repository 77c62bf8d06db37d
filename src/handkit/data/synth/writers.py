"""Writers of the synthetic world in the real datasets' on-disk layouts.

Each writer makes one sample at a time (`make`: render, write its image files unless they
exist, return a JSON-ready label record) and assembles the annotation files at the end
(`finalize`, records in index order). The readers in `data/formats/` read the result exactly
as the real datasets. Layouts: docs/synth.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from handkit.data.formats.hand100m import CROP_SCALE, crop_window, write_annotations
from handkit.data.part_masks import scene_part_seg, to_digit_classes
from handkit.data.synth.multi import two_hand_scene, multi_hand_scene, video_scene
from handkit.data.synth.scenes import Scene, freihand_scene, rng_for
from handkit.hand.model import PART_NAMES
from handkit.hand.skeleton import ORDERS, PARENTS, convert
from handkit.utils import files
from handkit.utils.files import write_image

__all__ = ["Writer", "FreiHANDWriter", "Hand100MWriter", "InterHandWriter", "MultiHandWriter",
           "WRITERS", "save_image", "write_json", "preview_item", "freihand_split",
           "interhand_split", "hand100m_path"]

_QUALITY_STREAM = 9  # rng stream of the JPEG quality draws


def save_image(path: Path, image: np.ndarray, quality: int = 95) -> None:
    """Write `image` ((H, W, 3) RGB or (H, W) gray uint8) as JPEG (`quality`) or PNG, by the
    suffix of `path`, unless `path` exists (resume keeps existing files)."""
    if path.exists():
        return
    data = np.ascontiguousarray(image[..., ::-1] if image.ndim == 3 else image)
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if path.suffix == ".jpg" else \
        [cv2.IMWRITE_PNG_COMPRESSION, 6]
    write_image(path, data, params)


def write_json(path: Path, obj) -> None:
    """Write compact JSON atomically."""
    files.write_json(path, obj, indent=None)


class _JsonList:
    """A JSON list written item by item to a temporary file, renamed into place on close."""

    def __init__(self, path: Path):
        self._writing = files.atomic_open(path)
        self.file = self._writing.__enter__()
        self.file.write("[")
        self.first = True

    def append(self, item, raw: bool = False) -> None:
        """Add `item` (a JSON-able object, or already-encoded JSON text if `raw`)."""
        text = item if raw else json.dumps(item, separators=(",", ":"))
        self.file.write(("" if self.first else ",") + text)
        self.first = False

    def close(self) -> None:
        self.file.write("]")
        self._writing.__exit__(None, None, None)


def _r(x, decimals: int) -> list:
    return np.round(np.asarray(x, dtype=np.float64), decimals).tolist()


def _quality(seed: int, index: int) -> int:
    return int(rng_for(seed, _QUALITY_STREAM, index).integers(70, 96))


def preview_item(image: str, scene: Scene) -> dict:
    """What the contact sheet needs: the image path and every hand's 2D keypoints/visibility."""
    return {"image": image, "uv": [_r(h.uv, 2) for h in scene.hands],
            "visible": [h.visible.astype(int).tolist() for h in scene.hands],
            "handedness": [h.state.handedness for h in scene.hands]}


class Writer:
    """One dataset layout. Subclasses set the class attributes and implement make/finalize."""

    default_size: int = 224
    size_range: tuple[int, int] = (32, 1024)
    layout: str = ""
    options: tuple[str, ...] = ()  # the extra keyword arguments its `make` takes

    @staticmethod
    def make(out: Path, seed: int, index: int, size: int, n: int,
             appearance: str = "default") -> dict:
        """Render sample `index` of `n` (look: `appearance`, a DOMAINS name), write its image
        files unless they exist, and return its label record. Layouts with `options` take
        them as keyword arguments too."""
        raise NotImplementedError

    @staticmethod
    def finalize(out: Path, records: Callable[[], Iterator[dict]], seed: int) -> None:
        """Write the annotation files; `records()` iterates the records in index order (call
        it again for another pass)."""
        raise NotImplementedError


def freihand_split(index: int, n: int) -> tuple[str, int]:
    """FreiHAND split of global sample `index` among `n`: the last n // 8 are ``evaluation``
    (FreiHAND's ratio is 3960 / 32560); returns (split, index within the split)."""
    n_eval = n // 8
    n_train = n - n_eval
    return ("training", index) if index < n_train else ("evaluation", index - n_train)


class FreiHANDWriter(Writer):
    """FreiHAND v2 layout: ``training/rgb/%08d.jpg``, ``training/mask/%08d.jpg``,
    ``training_{xyz,K,scale,verts}.json``, ``evaluation/rgb/%08d.jpg``,
    ``evaluation_{xyz,K,scale,verts}.json``. One image per annotation (the real training set
    has 4 appearance variants per annotation: readers index annotations with ``i % len(xyz)``,
    which is the identity here). ``scale`` is the middle MCP–PIP bone length (joints 9–10),
    meters; ``verts`` are OpenHand vertices (not MANO's 778)."""

    default_size = 224
    layout = "FreiHAND v2 (training/, evaluation/, *_xyz/K/scale/verts.json)"

    @staticmethod
    def make(out: Path, seed: int, index: int, size: int, n: int,
             appearance: str = "default") -> dict:
        split, local = freihand_split(index, n)
        scene = freihand_scene(seed, index, size, appearance)
        (hand,) = scene.hands  # FreiHAND scenes hold exactly one hand
        name = f"{split}/rgb/{local:08d}.jpg"
        save_image(out / name, scene.image, _quality(seed, index))
        if split == "training":
            save_image(out / f"training/mask/{local:08d}.jpg", scene.mask.astype(np.uint8) * 255, 95)
        xyz = hand.state.joints
        return {"split": split, "xyz": _r(xyz, 6), "K": _r(scene.K, 4),
                "scale": round(float(np.linalg.norm(xyz[9] - xyz[10])), 6),
                # pre-encoded: decoding/re-encoding 1.2k vertices per sample dominated finalize
                "verts": json.dumps(_r(hand.state.vertices, 5), separators=(",", ":")),
                "_preview": preview_item(name, scene)}

    @staticmethod
    def finalize(out: Path, records: Callable[[], Iterator[dict]], seed: int) -> None:
        keys = ("xyz", "K", "scale", "verts")
        files = {(split, key): _JsonList(out / f"{split}_{key}.json")
                 for split in ("training", "evaluation") for key in keys}
        for r in records():  # stream: the vertices of a big set do not fit in memory
            for key in keys:
                files[r["split"], key].append(r[key], raw=key == "verts")
        for f in files.values():
            f.close()


def hand100m_path(n: int, source: str = "Ego4D") -> str:
    """The annotation file of a synthetic Hand100M folder of `n` hands, relative to the root:
    ``annotations/<Source>/Hand100M_<Source>_<scale>_v1-1.json`` with scale ``50k``/``1m``
    style when `n` is a round number, else the count itself."""
    scale = f"{n // 1_000_000}m" if n % 1_000_000 == 0 else \
        f"{n // 1000}k" if n % 1000 == 0 else str(n)
    return f"annotations/{source}/Hand100M_{source}_{scale}_v1-1.json"


class Hand100MWriter(Writer):
    """Hand100M layout (specs/pretrain.md §2.2): full frames ``frames/<video_id>/frame_%06d.jpg``
    (k = 0, 30, 60, ... as SiMHand's extraction), one hand each, and
    ``annotations/Ego4D/Hand100M_Ego4D_<scale>_v1-1.json`` written with
    `data.formats.hand100m.write_annotations`. ``boxes`` is the hand's box in the frame,
    ``keypoint_25d`` the true 2D keypoints (handkit order) normalised to the official 1.3×
    square crop of that box, third value the depth relative to the wrist (meters, ignored by
    the loaders). ``positive_sample``/``distance`` are empty until mining fills them. Images
    carry ``video_id``/``frame_id`` so mining can exclude same-video pairs."""

    default_size = 224
    size_range = (128, 512)
    layout = "Hand100M (frames/<video>/frame_*.jpg + annotations/Ego4D/Hand100M_Ego4D_<n>_v1-1.json)"

    @staticmethod
    def make(out: Path, seed: int, index: int, size: int, n: int,
             appearance: str = "default") -> dict:
        vf = video_scene(seed, index, size, appearance)
        scene = vf.scene
        (hand,) = scene.hands  # one hand per Hand100M crop
        video_id, k = f"synth{vf.video:06d}", 30 * vf.frame
        name = f"frames/{video_id}/frame_{k:06d}.jpg"
        save_image(out / name, scene.image, _quality(seed, index))
        box = np.clip(hand.box, 0, size)
        x1, y1, x2, y2 = crop_window(box, CROP_SCALE, size, size)
        kp = np.concatenate([(hand.uv - [x1, y1]) / [x2 - x1, y2 - y1],
                             hand.state.joints[:, 2:] - hand.state.joints[0, 2]], 1)
        image = {"id": index, "file_name": name, "width": size, "height": size,
                 "video_id": video_id, "frame_id": k}
        ann = {"hand_id": f"{video_id}_{k:06d}_0", "image_id": index, "boxes": _r(box, 2),
               "keypoint_25d": _r(kp.ravel(), 5),
               "left_right": "Right" if hand.state.handedness == "right" else "Left",
               "positive_sample": [], "distance": []}
        return {"image": image, "annotation": ann, "_preview": preview_item(name, scene)}

    @staticmethod
    def finalize(out: Path, records: Callable[[], Iterator[dict]], seed: int) -> None:
        rows = [(r["image"], r["annotation"]) for r in records()]
        write_annotations(out / hand100m_path(len(rows)), [i for i, _ in rows],
                          [a for _, a in rows])


def interhand_split(index: int, n: int) -> str:
    """InterHand2.6M split of sample `index` among `n`: the last n // 10 are ``test``, the
    n // 10 before them ``val``, the rest ``train``."""
    n_test = n_val = n // 10
    return "train" if index < n - n_test - n_val else ("val" if index < n - n_test else "test")


def _skeleton_txt() -> str:
    """InterHand2.6M's skeleton.txt (specs/digit.md §3.3): name id parent, right then left."""
    order = ORDERS["interhand"]  # handkit joint j is at interhand index order[j]
    names = ["thumb", "index", "middle", "ring", "pinky"]
    lines = ["# joint_name joint_id joint_parent_id"]
    for side, base in (("r", 0), ("l", 21)):
        for j in sorted(range(21), key=lambda j: order[j]):
            name = f"{side}_wrist" if j == 0 else f"{side}_{names[(j - 1) // 4]}{(j - 1) % 4 + 1}"
            parent = -1 if j == 0 else order[PARENTS[j]] + base
            lines.append(f"{name} {order[j] + base} {parent}")
    return "\n".join(lines) + "\n"


class InterHandWriter(Writer):
    """InterHand2.6M (5 fps, v1.0) layout (specs/digit.md §3.1-3.2):
    ``annotations/skeleton.txt``, ``annotations/<split>/InterHand2.6M_<split>_{data,camera,
    joint_3d}.json``, ``images/<split>/Capture<c>/<seq>/cam<cam>/image<frame>.jpg``. World
    coordinates in mm, ``camrot`` world → camera, one rig of 4 cameras per capture of 64
    frames. ``joint_valid`` is 1 for every joint of a present hand (annotation validity, as the
    real data); the depth-buffer visibility is in the extra field ``joint_visible``.

    Part segmentation beside the images: ``segm_32/<split>/<file_name with .png>``, one
    channel uint8 in DIGIT's 33-class encoding (specs/digit.md §2.3: 0 background, right part
    p → p + 1, left → p + 17; `data.part_masks`), at the image's resolution, from the scene's
    z-buffer (the hand in front wins; pixels under a synthetic occluder are background, as
    only visible hand pixels are labelled). The relative path is the official mask LMDB key."""

    default_size = 384
    size_range = (128, 1024)
    layout = "InterHand2.6M v1.0 (annotations/<split>/*.json, images/<split>/Capture*/...)"

    @staticmethod
    def make(out: Path, seed: int, index: int, size: int, n: int,
             appearance: str = "default") -> dict:
        split = interhand_split(index, n)
        scene, hand_type, capture, cam = two_hand_scene(seed, index, size, appearance)
        height, width = scene.image.shape[:2]
        seq = f"{index // 16:04d}_synth"
        file_name = f"Capture{capture}/{seq}/cam{cam.name}/image{index}.jpg"
        save_image(out / f"images/{split}/{file_name}", scene.image, _quality(seed, index))
        slots = [0 if h.state.handedness == "right" else 1 for h in scene.hands]
        segm = to_digit_classes(scene_part_seg(scene.instance, scene.parts, slots))
        save_image(out / f"segm_32/{split}/{file_name[:-len('.jpg')]}.png", segm)
        world = np.zeros((42, 3))
        valid, visible = np.zeros(42, int), np.zeros(42, int)
        for hand in scene.hands:
            part = slice(0, 21) if hand.state.handedness == "right" else slice(21, 42)
            cam_mm = convert(hand.state.joints.astype(np.float64), "handkit", "interhand") * 1000
            world[part] = cam_mm @ cam.camrot + cam.campos  # camrot^T X + C, row vectors
            valid[part] = 1
            visible[part] = convert(hand.visible[:, None], "handkit", "interhand")[:, 0]
        box = np.concatenate([np.min([h.box[:2] for h in scene.hands], 0),
                              np.max([h.box[2:] for h in scene.hands], 0)])
        box = np.clip(box, 0, [width, height, width, height])
        image = {"id": index, "file_name": file_name, "width": width, "height": height,
                 "capture": capture, "seq_name": seq, "camera": cam.name, "frame_idx": index,
                 "subject": capture}
        ann = {"id": index, "image_id": index, "bbox": _r([*box[:2], *(box[2:] - box[:2])], 2),
               "joint_valid": [[int(v)] for v in valid], "joint_visible": [[int(v)] for v in visible],
               "hand_type": hand_type, "hand_type_valid": 1}
        joint_3d = {"world_coord": _r(world, 3), "joint_valid": [[bool(v)] for v in valid],
                    "hand_type": hand_type, "hand_type_valid": True}
        camera = {"campos": _r(cam.campos, 4), "camrot": _r(cam.camrot, 8),
                  "focal": _r(cam.K[[0, 1], [0, 1]], 4), "princpt": _r(cam.K[:2, 2], 4)}
        return {"split": split, "image": image, "annotation": ann, "joint_3d": joint_3d,
                "capture": str(capture), "camera_name": cam.name, "camera": camera,
                "_preview": preview_item(f"images/{split}/{file_name}", scene)}

    @staticmethod
    def finalize(out: Path, records: Callable[[], Iterator[dict]], seed: int) -> None:
        (out / "annotations").mkdir(parents=True, exist_ok=True)
        (out / "annotations/skeleton.txt").write_text(_skeleton_txt())
        for split in ("train", "val", "test"):
            rows = [r for r in records() if r["split"] == split]
            if not rows:
                continue
            cameras: dict[str, dict] = {}
            joints: dict[str, dict] = {}
            for r in rows:
                rig = cameras.setdefault(r["capture"], {k: {} for k in r["camera"]})
                for key, value in r["camera"].items():
                    rig[key][r["camera_name"]] = value
                joints.setdefault(r["capture"], {})[str(r["image"]["frame_idx"])] = r["joint_3d"]
            stem = out / f"annotations/{split}/InterHand2.6M_{split}"
            write_json(Path(f"{stem}_data.json"), {"images": [r["image"] for r in rows],
                                                   "annotations": [r["annotation"] for r in rows]})
            write_json(Path(f"{stem}_camera.json"), cameras)
            write_json(Path(f"{stem}_joint_3d.json"), joints)


class MultiHandWriter(Writer):
    """handkit's multi-hand layout (docs/synth.md), for SMHR-style training: 2-4 hands (option
    ``hands``: a count or a (fewest, most) range in 1-4, `multi.check_hands`) per
    ``images/%08d.jpg``; ``masks/%08d.png`` (0 background, k + 1 = visible pixels of hand k);
    ``parts/%08d.png`` (0 background, 1 + index into ``part_names``); ``annotations.json``
    with per image ``K`` and per hand handedness, ``xyz`` (21×3 m, camera frame, handkit
    order), ``uv`` (21×2 px), ``visible``, ``box`` [x1, y1, x2, y2] and the OpenHand
    parameters that regenerate its mesh (``global_orient``, ``finger_pose``, ``shape``,
    ``transl``; ``finger_pose`` is already mirrored for left hands, i.e. the model input)."""

    default_size = 384
    size_range = (128, 1024)
    layout = "handkit multi-hand (images/, masks/, parts/, annotations.json)"
    options = ("hands",)

    @staticmethod
    def make(out: Path, seed: int, index: int, size: int, n: int,
             appearance: str = "default", hands: tuple[int, int] | None = None) -> dict:
        scene = multi_hand_scene(seed, index, size, appearance, hands)
        name = f"images/{index:08d}.jpg"
        save_image(out / name, scene.image, _quality(seed, index))
        save_image(out / f"masks/{index:08d}.png", (scene.instance + 1).astype(np.uint8))
        save_image(out / f"parts/{index:08d}.png", scene.parts)
        hands = [{"handedness": h.state.handedness, "xyz": _r(h.state.joints, 6),
                  "uv": _r(h.uv, 3), "visible": h.visible.astype(int).tolist(),
                  "box": _r(h.box, 2), "pixels": h.pixels,
                  "global_orient": _r(h.state.global_orient, 6),
                  "finger_pose": _r(h.state.finger_pose, 6), "shape": _r(h.state.shape, 6),
                  "transl": _r(h.state.transl, 6)} for h in scene.hands]
        image = {"id": index, "file_name": name, "mask_file": f"masks/{index:08d}.png",
                 "parts_file": f"parts/{index:08d}.png", "width": size, "height": size,
                 "K": _r(scene.K, 4), "hands": hands}
        return {"image": image, "_preview": preview_item(name, scene)}

    @staticmethod
    def finalize(out: Path, records: Callable[[], Iterator[dict]], seed: int) -> None:
        write_json(out / "annotations.json", {
            "info": {"generator": "handkit synth multihand", "model": "OpenHand",
                     "units": "meters, pixels (pixel centre of column i at i + 0.5)",
                     "keypoint_order": "handkit (FreiHAND)"},
            "part_names": ["background"] + list(PART_NAMES),
            "images": [r["image"] for r in records()]})


WRITERS: dict[str, type[Writer]] = {"freihand": FreiHANDWriter, "interhand": InterHandWriter,
                                    "hand100m": Hand100MWriter, "multihand": MultiHandWriter}
