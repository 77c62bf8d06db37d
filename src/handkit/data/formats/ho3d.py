"""HO3D v2 / v3, read from the released layout (specs/mesh.md §1.9, §2.7, §3.7).

Layout::

    <root>/train.txt, <root>/evaluation.txt      one "<seq>/<frame>" per line
    <root>/train/<seq>/rgb/<frame>.png           (v2; v3 ships .jpg)
    <root>/train/<seq>/meta/<frame>.pkl          a Python-2 pickle of numpy arrays
    <root>/evaluation/<seq>/rgb/<frame>.png, .../meta/<frame>.pkl

Meta fields used: ``camMat`` (3×3), ``handJoints3D`` (train: 21×3 meters, HO3D = MANO order;
evaluation: the root only, 3), ``handBoundingBox`` (evaluation, [x0, y0, x1, y1] px),
``handPose`` (48), ``handBeta`` (10), ``handTrans`` (3).

**Convention:** HO3D's camera is OpenGL-style (y up, z toward the viewer); the loader flips
y and z (·diag(1, −1, −1), a proper rotation) into handkit's frame (y down, z forward) and
projects with the unchanged ``camMat``, which is HO3D's own ``projectPoints`` after its
``coordChangeMat``. S2HAND instead folds the flip into K; the pixels are the same.
Pickles are read with the restricted unpickler (numpy arrays and basic types only).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from handkit.data.formats._base import FormatDataset
from handkit.data.formats._io import (get_field, read_image, read_pickle_restricted,
                                      require_file, to_array)
from handkit.geometry.camera import project_points
from handkit.data.schema import Sample, SampleError
from handkit.hand.skeleton import convert
from handkit.utils.check import check_choice

__all__ = ["HO3D", "OPENGL_TO_CV"]

OPENGL_TO_CV = np.array([1.0, -1.0, -1.0], np.float32)
"""Multiply (x, y, z) by this to go from HO3D's OpenGL camera frame to handkit's (and back)."""
_SPLITS = {"train": ("train", "train.txt"), "evaluation": ("evaluation", "evaluation.txt"),
           "eval": ("evaluation", "evaluation.txt"), "test": ("evaluation", "evaluation.txt")}
_EXT = {"v2": ".png", "v3": ".jpg"}


class HO3D(FormatDataset):
    """HO3D v2/v3 as a map-style Dataset of one-right-hand `Sample`s.

    Args:
        root: the HO3D_v2 / HO3D_v3 directory.
        split: ``train`` or ``evaluation`` (aliases ``eval``, ``test``).
        version: ``v2`` (.png frames), ``v3`` (.jpg) or ``auto`` (from the first listed frame).

    Train samples: ``keypoints_3d`` (1, 21, 3) meters, handkit frame and order; ``keypoints_2d``;
    ``K`` = ``camMat``. A frame whose ``handJoints3D`` is None has no valid joint.
    Evaluation samples have no valid joint; ``extras["root_3d"]`` (3,) (meters, handkit frame)
    and ``extras["bbox"]`` ([x0, y0, x1, y1] px) hold what the meta files give.
    ``extras["mano"]`` = handPose ‖ handBeta ‖ handTrans (61,) in HO3D's OpenGL frame, when
    present. ``video_id`` = the sequence, ``frame_id`` = the frame number.
    """

    name = "ho3d"

    def __init__(self, root: str | Path, split: str = "train", *,
                 version: Literal["v2", "v3", "auto"] = "auto"):
        check_choice(split, _SPLITS, name="split")
        check_choice(version, (*_EXT, "auto"), name="version")
        self.root = Path(root)
        self.subdir, list_name = _SPLITS[split]
        list_file = require_file(self.root / list_name, f"HO3D {self.subdir} frame list")
        self.frames: list[tuple[str, str]] = []
        for n, line in enumerate(list_file.read_text().splitlines()):
            if not line.strip():
                continue
            parts = line.strip().split("/")
            if len(parts) != 2:
                raise SampleError(f"{list_file}: line {n + 1}: expected '<seq>/<frame>', got "
                                  f"{line!r}.")
            self.frames.append((parts[0], parts[1]))
        if not self.frames:
            raise SampleError(f"{list_file}: frames: the list is empty.")
        if version == "auto":
            seq, frame = self.frames[0]
            version = "v3" if (self.root / self.subdir / seq / "rgb" / f"{frame}.jpg").is_file() \
                else "v2"
        self.version = version

    def __len__(self) -> int:
        return len(self.frames)

    def sample_id(self, index: int) -> str:
        seq, frame = self.frames[index]
        return f"{self.subdir}/{seq}/rgb/{frame}{_EXT[self.version]}"

    def _load(self, index: int) -> tuple[Sample, str]:
        seq, frame = self.frames[index]
        meta_path = self.root / self.subdir / seq / "meta" / f"{frame}.pkl"
        meta = read_pickle_restricted(meta_path, "HO3D meta")
        if not isinstance(meta, dict):
            raise SampleError(f"{meta_path}: meta: expected a dict, got {type(meta).__name__}.")
        K = to_array(get_field(meta, "camMat", meta_path), "3 3", meta_path, "camMat")
        joints = meta.get("handJoints3D")
        extras: dict = {}
        xyz, uv, valid = None, np.zeros((1, 21, 2), np.float32), np.zeros((1, 21), bool)
        if joints is not None and np.size(joints) == 3:  # evaluation: root only
            extras["root_3d"] = to_array(joints, "3", meta_path, "handJoints3D") * OPENGL_TO_CV
            extras["bbox"] = to_array(get_field(meta, "handBoundingBox", meta_path), "4",
                                      meta_path, "handBoundingBox")
        elif joints is not None:
            mano_order = to_array(joints, "21 3", meta_path, "handJoints3D") * OPENGL_TO_CV
            xyz = convert(mano_order, "mano", "handkit")[None]
            uv, valid = project_points(xyz, K).astype(np.float32), np.ones((1, 21), bool)
        if all(meta.get(k) is not None for k in ("handPose", "handBeta", "handTrans")):
            extras["mano"] = np.concatenate([
                to_array(meta[k], str(n), meta_path, k)
                for k, n in (("handPose", 48), ("handBeta", 10), ("handTrans", 3))])
        if self.subdir == "train" and xyz is None and joints is not None:
            raise SampleError(f"{meta_path}: handJoints3D: expected (21, 3) in a train frame.")
        path = self.root / self.subdir / seq / "rgb" / f"{frame}{_EXT[self.version]}"
        sample = Sample(
            image=read_image(path), keypoints_2d=uv, joint_valid=valid,
            is_right=np.ones(1, bool), K=K, keypoints_3d=xyz, dataset=self.name,
            sample_id=self.sample_id(index), video_id=seq,
            frame_id=int(frame) if frame.isdigit() else -1, extras=extras)
        return sample, str(path)
