"""FreiHAND v2 (`FreiHAND_pub_v2`), training and evaluation, read from its released layout.

Layout (specs/pretrain.md §3.3 and §6; specs/mesh.md §2.7)::

    <root>/training/rgb/%08d.jpg        4·N images: N green-screen (gs), then hom, sample, auto
    <root>/training/mask/%08d.jpg       N hand masks (one per label, shared by the 4 versions)
    <root>/training_xyz.json            list[N] of 21×3, meters, camera frame, FreiHAND order
    <root>/training_K.json              list[N] of 3×3 pixel intrinsics
    <root>/training_scale.json          list[N] of float, meters (middle MCP–PIP bone)  [optional]
    <root>/training_verts.json          list[N] of 778×3, meters                       [optional]
    <root>/training_mano.json           list[N] of 1×61 (48 pose, 10 shape, 3 trans)   [optional]
    <root>/evaluation/rgb/%08d.jpg      M images
    <root>/evaluation_K.json, evaluation_scale.json
    evaluation_xyz.json / evaluation_verts.json / evaluation_mano.json: the labels of the
    evaluation release, read from <root> or, as SiMHand does, from the sibling <root>_eval/.

Image i of training belongs to label ``i % N`` (the seeds' rule); FreiHAND order is handkit
order, so no reordering. Without evaluation labels, evaluation samples have
``joint_valid = False`` everywhere, zero 2D keypoints and no 3D keypoints.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, Sequence

import numpy as np

from handkit.data.formats._base import FormatDataset
from handkit.data.formats._io import (get_field, read_image, read_json, read_mask,
                                      to_array)
from handkit.geometry.camera import project_points
from handkit.data.schema import Sample, SampleError
from handkit.utils.check import check_choice

__all__ = ["FreiHAND", "VERSIONS", "SPLITS"]

VERSIONS = ("gs", "hom", "sample", "auto")
"""The four colour versions of the training images, in the order of their 32,560-image blocks."""
SPLITS = {"training": "training", "train": "training", "evaluation": "evaluation",
          "eval": "evaluation", "test": "evaluation"}
_IMAGE_EXT = (".jpg", ".jpeg", ".png")


class FreiHAND(FormatDataset):
    """FreiHAND v2 as a map-style Dataset of `Sample`s (N = 1 right hand per image).

    Args:
        root: the ``FreiHAND_pub_v2`` directory.
        split: ``training`` (alias ``train``) or ``evaluation`` (aliases ``eval``, ``test``).
        versions: training colour versions to use, a subset of `VERSIONS` (default: every
            version present on disk). The dataset's index runs version block by version block.
        vertices: also read ``*_verts.json`` (about 1.5 GB of JSON for the full training set,
            kept as one float32 array of 0.3 GB; off by default for that reason). FreiHAND's
            are MANO's 778 vertices; the synthetic world's are OpenHand's 1214.
        masks: read ``training/mask`` when it exists.
        eval_root: where the evaluation labels are; default ``<root>`` then ``<root>_eval``.

    Sample fields: ``keypoints_3d`` (meters), ``keypoints_2d`` = projection with K, ``K``,
    ``scale``, ``mask`` (training), ``vertices`` (if asked), ``is_right`` = True.
    ``video_id`` = ``"<split>/<label:08d>"`` (the four versions of one label are one capture),
    ``frame_id`` = the version's block index; ``extras``: ``version``, ``label_index`` and
    ``mano`` ((61,) float32, if ``*_mano.json`` exists).
    """

    name = "freihand"

    def __init__(self, root: str | Path, split: Literal["training", "evaluation"] = "training",
                 *, versions: Sequence[str] | None = None, vertices: bool = False,
                 masks: bool = True, eval_root: str | Path | None = None):
        check_choice(split, SPLITS, name="split")
        self._sources: dict[str, Path] = {}
        self.root = Path(root)
        self.split = SPLITS[split]
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root}: missing (FreiHAND root directory).")
        prefix = self.split
        label_dir = self._label_dir(eval_root)
        self.K = self._list(self.root / f"{prefix}_K.json", "K")
        self.num_labels = len(self.K)
        labelled = label_dir is not None
        self.xyz = self._list(label_dir / f"{prefix}_xyz.json", "xyz") if labelled else None
        self.scale = self._list(self.root / f"{prefix}_scale.json", "scale", optional=True)
        self.mano = self._list(label_dir / f"{prefix}_mano.json", "mano", optional=True) \
            if labelled else None
        self.verts = None
        if vertices:
            if label_dir is None:
                raise FileNotFoundError(f"{self.root / 'evaluation_verts.json'}: missing "
                                        "(FreiHAND vertices).")
            self.verts = self._vertex_array(label_dir / f"{prefix}_verts.json")
        self.rgb_dir = self.root / prefix / "rgb"
        if not self.rgb_dir.is_dir():
            raise FileNotFoundError(f"{self.rgb_dir}: missing (FreiHAND {prefix} images).")
        self.images = sorted(f for f in os.listdir(self.rgb_dir)
                             if f.lower().endswith(_IMAGE_EXT))
        if not self.images or len(self.images) % self.num_labels:
            raise SampleError(
                f"{self.rgb_dir}: images: {len(self.images)} files is not a positive multiple of "
                f"the {self.num_labels} labels of {prefix}_K.json (image i has label i % N).")
        available = VERSIONS[: len(self.images) // self.num_labels] if prefix == "training" \
            else ("evaluation",)
        if versions is None:
            versions = available
        for v in versions:
            check_choice(v, available, name="versions")
        self.versions = tuple(versions)
        self.blocks = tuple(available.index(v) for v in self.versions)
        self.mask_dir = self.root / prefix / "mask"
        self.masks = masks and self.mask_dir.is_dir()

    def _label_dir(self, eval_root: str | Path | None) -> Path | None:
        """The directory holding `<split>_xyz.json`, or None for unlabelled evaluation."""
        if self.split == "training":
            return self.root
        candidates = [Path(eval_root)] if eval_root is not None else \
            [self.root, self.root.parent / f"{self.root.name}_eval"]
        for d in candidates:
            if (d / "evaluation_xyz.json").is_file():
                return d
        if eval_root is not None:
            raise FileNotFoundError(f"{Path(eval_root) / 'evaluation_xyz.json'}: missing "
                                    "(FreiHAND evaluation labels).")
        return None

    def _list(self, path: Path, field: str, *, optional: bool = False) -> list | None:
        """A top-level JSON list with one entry per label (checked for length)."""
        if optional and not path.is_file():
            return None
        value = read_json(path, f"FreiHAND {field}")
        self._sources[field] = path
        if not isinstance(value, list):
            raise SampleError(f"{path}: {field}: expected a list with one entry per label, "
                              f"got {type(value).__name__}.")
        expected = getattr(self, "num_labels", len(value))
        if len(value) != expected:
            raise SampleError(f"{path}: {field}: {len(value)} entries, but {self.split}_K.json "
                              f"has {expected}; the files must describe the same labels.")
        return value

    def _vertex_array(self, path: Path) -> np.ndarray:
        """`*_verts.json` as one (N, V, 3) float32 array: 0.3 GB for the 32,560 × 778 × 3
        training vertices, about 10× less than the parsed JSON lists it replaces."""
        values = self._list(path, "verts")
        try:
            verts = np.asarray(values, dtype=np.float32)
        except (TypeError, ValueError):
            sizes = sorted({len(v) if isinstance(v, list) else -1 for v in values})
            raise SampleError(f"{path}: verts: every entry must be a V×3 list with one V for "
                              f"all labels; found vertex counts {sizes[:5]}.") from None
        if verts.ndim != 3 or verts.shape[2] != 3:
            raise SampleError(f"{path}: verts: expected (N, V, 3), got {verts.shape}.")
        return verts

    def __len__(self) -> int:
        return self.num_labels * len(self.blocks)

    def _locate(self, index: int) -> tuple[int, int]:
        """Dataset index → (version block, label index)."""
        return self.blocks[index // self.num_labels], index % self.num_labels

    def sample_id(self, index: int) -> str:
        block, label = self._locate(index)
        return f"{self.split}/rgb/{self.images[block * self.num_labels + label]}"

    def _entry(self, values: list, label: int, field: str, pattern: str) -> np.ndarray:
        source = self._sources[field]
        return to_array(get_field(values, label, source, f"{field}[{label}]"), pattern, source,
                        f"{field}[{label}]")

    def _load(self, index: int) -> tuple[Sample, str]:
        block, label = self._locate(index)
        path = self.rgb_dir / self.images[block * self.num_labels + label]
        image = read_image(path)
        K = self._entry(self.K, label, "K", "3 3")
        if self.xyz is not None:
            xyz = self._entry(self.xyz, label, "xyz", "21 3")[None]
            uv, valid = project_points(xyz, K).astype(np.float32), np.ones((1, 21), bool)
        else:
            xyz, uv, valid = None, np.zeros((1, 21, 2), np.float32), np.zeros((1, 21), bool)
        extras: dict = {"version": self.versions[self.blocks.index(block)], "label_index": label}
        if self.mano is not None:
            extras["mano"] = self._entry(self.mano, label, "mano", "* 61").reshape(61)
        sample = Sample(
            image=image, keypoints_2d=uv, joint_valid=valid, is_right=np.ones(1, bool), K=K,
            keypoints_3d=xyz,
            scale=None if self.scale is None else self._entry(self.scale, label, "scale", "")
            .reshape(1),
            mask=read_mask(self.mask_dir / self.images[label]) if self.masks else None,
            vertices=None if self.verts is None else
            self._entry(self.verts, label, "verts", "V 3")[None],
            dataset=self.name, sample_id=self.sample_id(index),
            video_id=f"{self.split}/{label:08d}", frame_id=block, extras=extras)
        return sample, str(path)
