"""DexYCB, read from the official release layout (the dex-ycb-toolkit's), with its s0/s1/s2 splits.

Layout::

    <root>/calibration/intrinsics/<serial>_640x480.yml   color: {fx, fy, ppx, ppy}
    <root>/<date>-subject-<nn>/<capture>/meta.yml          num_frames, mano_sides, ...
    <root>/<date>-subject-<nn>/<capture>/<serial>/color_%06d.jpg
    <root>/<date>-subject-<nn>/<capture>/<serial>/labels_%06d.npz
        joint_3d (1, 21, 3) meters, camera frame; joint_2d (1, 21, 2) px; seg (H, W) uint8
        (255 = hand); all −1 when the frame has no hand label.

Joints are in DexYCB's order (wrist, thumb MCP..tip, index..., little), which is handkit's.
Subjects, captures and serials are taken in sorted order, which reproduces the toolkit's lists,
and a setup selects them by index (dex-ycb-toolkit ``dex_ycb.py``):

* ``s0`` (default split of the toolkit): train = every subject, sequences ``i % 5 != 4``;
  val = subjects 0-1, ``i % 5 == 4``; test = subjects 2-9, ``i % 5 == 4``.
* ``s1`` (unseen subjects; SiMHand's minimal-hand, specs/pretrain.md §3.3): train subjects
  0-5 and 9, val 6, test 7-8.
* ``s2`` (unseen cameras): train serials 0-5, val 6, test 7.

**Chosen where the spec is silent:** SiMHand reads a custom aggregated ``calib_all.json``; this
loader reads the official per-serial intrinsics instead. Frames without a hand label are kept
(``joint_valid`` False); SiMHand's "≥ 10 visible joints" filter and its mirroring of left hands
are the task's business (left hands are not mirrored here).
"""

from __future__ import annotations

import bisect
import os
import zipfile
from pathlib import Path
from typing import Literal

import numpy as np

from handkit.data.formats._base import FormatDataset
from handkit.data.formats._io import get_field, read_image, read_yaml, require_file, to_array
from handkit.data.schema import Sample, SampleError
from handkit.utils.check import check_choice

__all__ = ["DexYCB", "SETUPS"]

# setup -> split -> (subject indices, serial indices, sequence rule) ; None = all
SETUPS: dict[str, dict[str, tuple]] = {
    "s0": {"train": (None, None, lambda i: i % 5 != 4), "val": ((0, 1), None, lambda i: i % 5 == 4),
           "test": (tuple(range(2, 10)), None, lambda i: i % 5 == 4)},
    "s1": {"train": ((0, 1, 2, 3, 4, 5, 9), None, None), "val": ((6,), None, None),
           "test": ((7, 8), None, None)},
    "s2": {"train": (None, tuple(range(6)), None), "val": (None, (6,), None),
           "test": (None, (7,), None)},
}


def _subdirs(path: Path, keep=lambda name: True) -> list[str]:
    return sorted(d for d in os.listdir(path) if (path / d).is_dir() and keep(d))


class DexYCB(FormatDataset):
    """DexYCB as a map-style Dataset of one-hand `Sample`s (one per camera and frame).

    Args:
        root: the DexYCB directory (subject folders and ``calibration/``).
        split: ``train``, ``val`` or ``test``.
        setup: ``s0``, ``s1`` (default, SiMHand's) or ``s2``.

    Sample: ``keypoints_3d`` (1, 21, 3) meters, camera frame; ``keypoints_2d`` from
    ``joint_2d``; ``K``; ``is_right`` from ``mano_sides``; ``mask`` = ``seg == 255`` when
    present. ``video_id`` = ``"<subject>/<capture>/<serial>"``, ``frame_id`` = the frame.
    """

    name = "dexycb"

    def __init__(self, root: str | Path, split: str = "train", *,
                 setup: Literal["s0", "s1", "s2"] = "s1"):
        check_choice(setup, SETUPS, name="setup")
        check_choice(split, SETUPS[setup], name="split")
        self.root, self.split, self.setup = Path(root), split, setup
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root}: missing (DexYCB root directory).")
        subjects, serials, seq_rule = SETUPS[setup][split]
        all_subjects = _subdirs(self.root, lambda d: "-subject-" in d)
        if not all_subjects:
            raise FileNotFoundError(f"{self.root}: missing (no '<date>-subject-<nn>' folders).")
        self.sequences: list[tuple[str, str, bool]] = []  # (capture dir, serial, is_right)
        self.starts: list[int] = []
        self.counts: list[int] = []
        self._K: dict[str, np.ndarray] = {}
        total = 0
        for s_index, subject in enumerate(all_subjects):
            if subjects is not None and s_index not in subjects:
                continue
            for q_index, capture in enumerate(_subdirs(self.root / subject)):
                if seq_rule is not None and not seq_rule(q_index):
                    continue
                cap = f"{subject}/{capture}"
                meta_path = self.root / cap / "meta.yml"
                meta = read_yaml(meta_path, "DexYCB sequence meta")
                frames = int(get_field(meta, "num_frames", meta_path))
                side = get_field(get_field(meta, "mano_sides", meta_path), 0, meta_path,
                                 "mano_sides[0]")
                check_choice(side, ("right", "left"), name=f"{meta_path}: mano_sides[0]")
                cams = _subdirs(self.root / cap, str.isdigit)
                for c_index, serial in enumerate(cams):
                    if serials is not None and c_index not in serials:
                        continue
                    self.sequences.append((cap, serial, side == "right"))
                    self.starts.append(total)
                    self.counts.append(frames)
                    total += frames
        self.total = total

    def __len__(self) -> int:
        return self.total

    def _locate(self, index: int) -> tuple[str, str, bool, int]:
        k = bisect.bisect_right(self.starts, index) - 1
        cap, serial, right = self.sequences[k]
        return cap, serial, right, index - self.starts[k]

    def sample_id(self, index: int) -> str:
        cap, serial, _, frame = self._locate(index)
        return f"{cap}/{serial}/color_{frame:06d}.jpg"

    def _intrinsics(self, serial: str) -> np.ndarray:
        if serial not in self._K:
            path = self.root / "calibration" / "intrinsics" / f"{serial}_640x480.yml"
            color = get_field(read_yaml(path, "DexYCB camera intrinsics"), "color", path)
            fx, fy, cx, cy = (float(get_field(color, k, path, f"color.{k}"))
                              for k in ("fx", "fy", "ppx", "ppy"))
            self._K[serial] = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], np.float32)
        return self._K[serial]

    def _load(self, index: int) -> tuple[Sample, str]:
        cap, serial, right, frame = self._locate(index)
        folder = self.root / cap / serial
        label_path = require_file(folder / f"labels_{frame:06d}.npz", "DexYCB labels")
        try:
            with np.load(label_path, allow_pickle=False) as npz:
                labels = {k: npz[k] for k in npz.files}
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
            raise SampleError(f"{label_path}: labels: unreadable npz ({err}).") from None
        xyz = to_array(get_field(labels, "joint_3d", label_path), "1 21 3", label_path,
                       "joint_3d")
        uv = to_array(get_field(labels, "joint_2d", label_path), "1 21 2", label_path,
                      "joint_2d")
        has_hand = not np.all(xyz == -1)
        seg = labels.get("seg")
        path = folder / f"color_{frame:06d}.jpg"
        image = read_image(path)
        mask = None
        if seg is not None:
            mask = to_array(seg, f"{image.shape[0]} {image.shape[1]}", label_path, "seg",
                            dtype=np.uint8) == 255
        sample = Sample(
            image=image, keypoints_2d=uv if has_hand else np.zeros_like(uv),
            joint_valid=np.full((1, 21), has_hand), is_right=np.array([right]),
            K=self._intrinsics(serial), keypoints_3d=xyz if has_hand else np.zeros_like(xyz),
            mask=mask, dataset=self.name, sample_id=self.sample_id(index),
            video_id=f"{cap}/{serial}", frame_id=frame)
        return sample, str(path)
