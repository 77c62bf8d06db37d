"""YouTube3DHands (YT3DH), read from its released JSON (specs/pretrain.md §6).

Layout::

    <root>/youtube_<split>.json      {"images": [{"id", "name", "width", "height"}],
                                      "annotations": [{"vertices": 778×3, "is_left": 0|1,
                                                       "image_id", "id"}]}
    <root>/<images[].name>           "youtube/<VIDEO_ID>/video/frames/<FRAME_ID>.png"

The vertices are a MANO mesh in image pixels (x, y) plus a depth-like z. The 21 keypoints are
``M @ V`` (the 16 MANO kinematic joints, M the 16×778 MANO mesh-to-joints regressor, rows
summing to 1) plus the fingertip vertices ``[744, 320, 443, 555, 672]``, in MANO order, then
converted to handkit order. **M is a MANO asset that handkit cannot ship**: pass the path of
your own copy (PeCLR's ``mano_mesh_to_joints_mat.pth``, or MANO's ``J_regressor`` saved as
``.npy``/``.json``).

Only x, y are labels (``keypoints_2d``); YT3DH has no metric 3D and no K. One sample per
annotation (an image with two hands gives two samples). Frames extracted as JPEG (PeCLR's
``.png`` → ``.jpg``) are found too. If a frame's size differs from the JSON width × height it is
resized to it, as SiMHand does, so the labels stay in the JSON's pixel frame.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from handkit.data.formats._base import FormatDataset
from handkit.data.formats._io import get_field, read_image, read_json, require_file, to_array
from handkit.data.schema import Sample, SampleError
from handkit.hand.skeleton import TIP_VERTEX_SETS, convert
from handkit.utils.check import check_choice

__all__ = ["YouTube3DHands", "load_regressor", "mesh_to_keypoints"]


def load_regressor(source: str | Path | np.ndarray) -> np.ndarray:
    """Read a 16×778 mesh-to-joints regressor (.npy, .json, or a .pth/.pt tensor file).

    Raises:
        ValueError: wrong shape, non-finite values, or rows that do not sum to 1.
    """
    if isinstance(source, np.ndarray):
        matrix, where = source, "regressor"
    else:
        path = require_file(Path(source), "MANO mesh-to-joints regressor (16×778)")
        where = str(path)
        suffix = path.suffix.lower()
        if suffix == ".npy":
            matrix = np.load(path, allow_pickle=False)
        elif suffix == ".json":
            matrix = read_json(path, "regressor")
        elif suffix in (".pth", ".pt"):
            matrix = torch.load(path, map_location="cpu", weights_only=True)
            matrix = matrix.numpy() if isinstance(matrix, torch.Tensor) else matrix
        else:
            raise ValueError(f"{path}: regressor: unknown file type {suffix!r}; use .npy, .json "
                             "or .pth.")
    matrix = to_array(matrix, "16 778", where, "regressor", dtype=np.float64)
    rows = matrix.sum(1)
    if np.abs(rows - 1).max() > 1e-3:
        raise ValueError(f"{where}: regressor: rows must sum to 1 (a joint is a weighted mean of "
                         f"vertices), got sums from {rows.min():.4f} to {rows.max():.4f}.")
    return matrix


def mesh_to_keypoints(vertices: np.ndarray, regressor: np.ndarray,
                      tips: str = "freihand") -> np.ndarray:
    """21 keypoints of a MANO-topology mesh, handkit order.

    Args:
        vertices: (778, 3) float, any unit and frame.
        regressor: (16, 778) mesh-to-joints matrix.
        tips: key of `hand.skeleton.TIP_VERTEX_SETS` (YT3DH/PeCLR: ``freihand``).

    Returns:
        (21, 3) float32, same unit and frame, handkit order.
    """
    mano21 = np.concatenate([regressor @ vertices, vertices[list(TIP_VERTEX_SETS[tips])]])
    return convert(mano21, "mano", "handkit").astype(np.float32)


class YouTube3DHands(FormatDataset):
    """YouTube3DHands as a map-style Dataset of one-hand, 2D-labelled `Sample`s.

    Args:
        root: the directory holding ``youtube_<split>.json`` (and the ``youtube/`` frames).
        split: ``train``, ``val`` or ``test``.
        regressor: path to the 16×778 MANO mesh-to-joints regressor, or the array (required;
            see the module docstring).

    Sample: ``keypoints_2d`` (1, 21, 2) pixels; ``joint_valid`` True; ``is_right`` = not
    ``is_left`` (left hands are not mirrored); ``K`` None. ``extras["depth"]`` (21,) the
    keypoints' depth-like z (not metric); ``extras["annotation_id"]``. ``video_id`` = the
    YouTube video id, ``frame_id`` = the frame number.
    """

    name = "youtube3d"

    def __init__(self, root: str | Path, split: str = "train", *,
                 regressor: str | Path | np.ndarray | None = None):
        check_choice(split, ("train", "val", "test"), name="split")
        if regressor is None:
            raise ValueError("regressor: YouTube3DHands keypoints need the 16×778 MANO "
                             "mesh-to-joints regressor, which handkit cannot ship; pass "
                             "regressor=<path to your .npy/.json/.pth copy>.")
        self.regressor = load_regressor(regressor)
        self.root, self.split = Path(root), split
        self.file = self.root / f"youtube_{split}.json"
        data = read_json(self.file, "YouTube3DHands annotations")
        images = get_field(data, "images", self.file)
        self.images = {get_field(img, "id", self.file, f"images[{i}].id"): img
                       for i, img in enumerate(images)}
        self.annotations = get_field(data, "annotations", self.file)
        if not isinstance(self.annotations, list):
            raise SampleError(f"{self.file}: annotations: expected a list.")

    def __len__(self) -> int:
        return len(self.annotations)

    def sample_id(self, index: int) -> str:
        ann = self.annotations[index]
        image = self.images.get(ann.get("image_id"), {}) if isinstance(ann, dict) else {}
        return f"{image.get('name', '?')}#{ann.get('id', index) if isinstance(ann, dict) else index}"

    def _image_path(self, name: str) -> Path:
        path = self.root / name
        if not path.is_file() and path.suffix.lower() == ".png":
            jpg = path.with_suffix(".jpg")
            return jpg if jpg.is_file() else path
        return path

    def _load(self, index: int) -> tuple[Sample, str]:
        ann, src = self.annotations[index], self.file
        where = f"annotations[{index}]"
        image_id = get_field(ann, "image_id", src, f"{where}.image_id")
        info = get_field(self.images, image_id, src, f"images[id={image_id}]")
        name = str(get_field(info, "name", src, f"images[id={image_id}].name"))
        vertices = to_array(get_field(ann, "vertices", src, f"{where}.vertices"), "778 3", src,
                            f"{where}.vertices", dtype=np.float64)
        keypoints = mesh_to_keypoints(vertices, self.regressor)
        path = self._image_path(name)
        image = read_image(path)
        size = (int(info.get("width", image.shape[1])), int(info.get("height", image.shape[0])))
        if (image.shape[1], image.shape[0]) != size:
            image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
        parts = name.split("/")
        video = parts[1] if len(parts) > 2 else ""
        stem = Path(name).stem
        sample = Sample(
            image=image, keypoints_2d=keypoints[None, :, :2].copy(),
            joint_valid=np.ones((1, 21), bool),
            is_right=np.array([not bool(get_field(ann, "is_left", src, f"{where}.is_left"))]),
            dataset=self.name, sample_id=self.sample_id(index), video_id=video,
            frame_id=int(stem) if stem.isdigit() else -1,
            extras={"depth": keypoints[:, 2].copy(), "annotation_id": ann.get("id")})
        return sample, str(path)
