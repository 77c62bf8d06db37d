"""AssemblyHands (v1-1 annotations), the layout SiMHand's minimal-hand reads (specs/pretrain.md §3.3).

Layout::

    <root>/images/<file_name>
    <root>/annotations/<split>/assemblyhands_<split>_<modality>_data_v1-1.json
        COCO-like: images[] {id, seq_name, camera, frame_idx, file_name, width, height},
        annotations[] {image_id, joint_valid (42), bbox: {right: [x0, y0, x1, y1] | null,
        left: ... }}
    <root>/annotations/<split>/assemblyhands_<split>_<modality>_calib_v1-1.json
        {"calibration": {seq: {"intrinsics": {cam: 3×3},
                               "extrinsics": {"%06d" frame: {cam: 3×4}}}}}
    <root>/annotations/<split>/assemblyhands_<split>_joint_3d_v1-1.json
        {"annotations": {seq: {"%06d" frame: {"world_coord": 42×3 mm}}}}

``cam`` is the image's ``camera`` + ``"_mono10bit"`` (the plain name is accepted too). The 42
joints follow InterHand2.6M's layout (right 0-20, left 21-41, tips first, wrist last), which is
what SiMHand's permutation ``[20, 3, 2, 1, 0, 7, ...]`` to SNAP order assumes.

**Assumed where the spec is silent:** the 3×4 extrinsic is ``[R | t]`` world→camera in mm
(``X_cam = R·X + t``), and a wrapping ``"calibration"`` / ``"annotations"`` key may be absent.
The exocentric files are named with ``exo`` in place of ``ego`` (SiMHand's ``ah-exo`` loads ego
anyway). Each image gives one two-hand Sample (N = 2, [right, left]); SiMHand's per-hand crops
and its "≥ 10 valid joints" filter are the task's business.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from handkit.data.formats._base import FormatDataset
from handkit.data.formats._io import get_field, read_image, read_json, to_array
from handkit.geometry.camera import project_points
from handkit.data.formats.interhand import split_hands
from handkit.data.schema import Sample
from handkit.utils.check import check_choice

__all__ = ["AssemblyHands"]


class AssemblyHands(FormatDataset):
    """AssemblyHands as a map-style Dataset of two-hand `Sample`s.

    Args:
        root: the AssemblyHands directory (``images/``, ``annotations/``).
        split: ``train``, ``val`` or ``test``.
        modality: ``ego`` (default, as SiMHand) or ``exo``.

    Sample: ``keypoints_3d`` (2, 21, 3) meters, camera frame; ``keypoints_2d``; ``K``;
    ``is_right`` = [True, False]; ``joint_valid`` from the annotation (a hand with an invalid
    wrist is wholly invalid). ``extras["bbox"]`` (2, 4) float32 [x0, y0, x1, y1] px, NaN for a
    missing box. ``video_id`` = ``"<seq_name>/<camera>"``, ``frame_id`` = ``frame_idx``.
    """

    name = "assemblyhands"

    def __init__(self, root: str | Path, split: str = "train", *,
                 modality: Literal["ego", "exo"] = "ego"):
        check_choice(split, ("train", "val", "test"), name="split")
        check_choice(modality, ("ego", "exo"), name="modality")
        self.root, self.split = Path(root), split
        ann_dir = self.root / "annotations" / split
        self.files = {
            "data": ann_dir / f"assemblyhands_{split}_{modality}_data_v1-1.json",
            "calib": ann_dir / f"assemblyhands_{split}_{modality}_calib_v1-1.json",
            "joint_3d": ann_dir / f"assemblyhands_{split}_joint_3d_v1-1.json"}
        data = read_json(self.files["data"], "AssemblyHands images and annotations")
        calib = read_json(self.files["calib"], "AssemblyHands calibration")
        joints = read_json(self.files["joint_3d"], "AssemblyHands world joints")
        self.calib = calib.get("calibration", calib) if isinstance(calib, dict) else calib
        self.joints = joints.get("annotations", joints) if isinstance(joints, dict) else joints
        src = self.files["data"]
        by_image = {get_field(a, "image_id", src, f"annotations[{i}].image_id"): a
                    for i, a in enumerate(get_field(data, "annotations", src))}
        self.items = []
        for i, img in enumerate(get_field(data, "images", src)):
            image_id = get_field(img, "id", src, f"images[{i}].id")
            self.items.append((img, get_field(by_image, image_id, src,
                                              f"annotations[image_id={image_id}]")))

    def __len__(self) -> int:
        return len(self.items)

    def sample_id(self, index: int) -> str:
        return str(self.items[index][0].get("file_name", index))

    def _camera_value(self, table: dict, cam: str, source: Path, field: str) -> object:
        for key in (f"{cam}_mono10bit", cam):
            if isinstance(table, dict) and key in table:
                return table[key]
        return get_field(table, f"{cam}_mono10bit", source, field)

    def _load(self, index: int) -> tuple[Sample, str]:
        img, ann = self.items[index]
        data, calib_src, joint_src = self.files["data"], self.files["calib"], self.files["joint_3d"]
        where = f"images[id={img.get('id')}]"
        seq = str(get_field(img, "seq_name", data, f"{where}.seq_name"))
        cam = str(get_field(img, "camera", data, f"{where}.camera"))
        frame = int(get_field(img, "frame_idx", data, f"{where}.frame_idx"))
        fkey = f"{frame:06d}"
        seq_calib = get_field(self.calib, seq, calib_src, f"calibration[{seq!r}]")
        f_in = f"calibration[{seq!r}].intrinsics[{cam!r}]"
        K = to_array(self._camera_value(get_field(seq_calib, "intrinsics", calib_src, f_in), cam,
                                        calib_src, f_in), "3 3", calib_src, f_in)
        f_ex = f"calibration[{seq!r}].extrinsics[{fkey!r}][{cam!r}]"
        per_frame = get_field(get_field(seq_calib, "extrinsics", calib_src, f_ex), fkey,
                              calib_src, f_ex)
        Rt = to_array(self._camera_value(per_frame, cam, calib_src, f_ex), "3 4", calib_src,
                      f_ex, dtype=np.float64)
        f_w = f"annotations[{seq!r}][{fkey!r}].world_coord"
        world = to_array(get_field(get_field(get_field(self.joints, seq, joint_src, f_w), fkey,
                                             joint_src, f_w), "world_coord", joint_src, f_w),
                         "42 3", joint_src, f_w, dtype=np.float64, finite=False)
        f_v = f"annotations[{where}].joint_valid"
        raw = get_field(ann, "joint_valid", data, f_v)
        valid = to_array(raw, "42 1" if np.ndim(raw) == 2 else "42", data, f_v).reshape(42) > 0
        xyz, valid2 = split_hands(world @ Rt[:, :3].T + Rt[:, 3], valid, joint_src, f_w)
        boxes = ann.get("bbox") or {}
        bbox = np.array([boxes.get(side) if isinstance(boxes, dict) and boxes.get(side)
                         else [np.nan] * 4 for side in ("right", "left")], np.float32)
        file_name = str(get_field(img, "file_name", data, f"{where}.file_name"))
        path = self.root / "images" / file_name
        sample = Sample(
            image=read_image(path), keypoints_2d=project_points(xyz, K).astype(np.float32),
            joint_valid=valid2,
            is_right=np.array([True, False]), K=K, keypoints_3d=xyz, dataset=self.name,
            sample_id=file_name, video_id=f"{seq}/{cam}", frame_id=frame,
            extras={"bbox": bbox})
        return sample, str(path)
