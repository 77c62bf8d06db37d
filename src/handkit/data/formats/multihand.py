"""handkit's synthetic multi-hand layout (`handkit synth multihand`, docs/synth.md).

Layout::

    <root>/annotations.json   {"images": [{"file_name", "mask_file", "width", "height", "K",
                                           "hands": [{"handedness", "uv" 21×2 px, "xyz" 21×3 m,
                                                      "visible" 21, "box", ...}]}]}
    <root>/images/%08d.jpg    RGB
    <root>/masks/%08d.png     0 background, k + 1 = visible pixels of hand k

One `Sample` per image with every hand (2-4). All 21 labels of a hand exist (``joint_valid``
True, also for joints outside the image); ``joint_visible`` is the writer's visibility. The
split is ``"all"`` (the folder has one set; make two folders for train and test).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from handkit.data.formats._base import FormatDataset
from handkit.data.formats._io import get_field, read_image, read_json, require_file, to_array
from handkit.data.schema import Sample, SampleError

__all__ = ["MultiHandDataset"]


class MultiHandDataset(FormatDataset):
    """The synthetic multi-hand folder (module doc).

    Args:
        root: the folder `handkit synth multihand` wrote.
        split: ``"all"``.
        masks: read ``masks/`` (the union of the hands' visible pixels).
    """

    name = "multihand"

    def __init__(self, root: str | Path, split: str = "all", *, masks: bool = True) -> None:
        if split != "all":
            raise ValueError(f"split: the multihand layout has one split, 'all'; got {split!r}.")
        self.root = Path(root)
        self.annotations = self.root / "annotations.json"
        data = read_json(self.annotations, "multi-hand annotations")
        self.images = get_field(data, "images", self.annotations)
        self.masks = masks

    def __len__(self) -> int:
        return len(self.images)

    def sample_id(self, index: int) -> str:
        return str(self.images[index].get("file_name", f"{self.name}[{index}]"))

    def _load(self, index: int) -> tuple[Sample, str]:
        src = f"{self.annotations}: images[{index}]"
        img = self.images[index]
        hands = get_field(img, "hands", src)
        if not hands:
            raise SampleError(f"{src}: hands: empty list.")
        uv = np.stack([to_array(get_field(h, "uv", src), "21 2", src, "uv") for h in hands])
        xyz = np.stack([to_array(get_field(h, "xyz", src), "21 3", src, "xyz") for h in hands])
        visible = np.stack([to_array(get_field(h, "visible", src), "21", src, "visible",
                                     dtype=bool) for h in hands])
        sides = [get_field(h, "handedness", src) for h in hands]
        if set(sides) - {"right", "left"}:
            raise SampleError(f"{src}: handedness: expected 'right' or 'left', got {sides}.")
        image_path = self.root / get_field(img, "file_name", src)
        image = read_image(image_path)
        mask = None
        if self.masks and "mask_file" in img:
            mask_path = require_file(self.root / img["mask_file"], "multi-hand mask")
            raw = cv2.imread(str(mask_path), cv2.IMREAD_UNCHANGED)
            if raw is None:
                raise SampleError(f"{mask_path}: mask: cannot decode.")
            mask = raw > 0
        sample = Sample(image=image, keypoints_2d=uv, joint_valid=np.ones(uv.shape[:2], bool),
                        is_right=np.array([s == "right" for s in sides]),
                        K=to_array(get_field(img, "K", src), "3 3", src, "K"),
                        keypoints_3d=xyz, joint_visible=visible, mask=mask,
                        dataset=self.name, sample_id=self.sample_id(index))
        return sample, str(image_path)
