"""handkit.geometry: cameras (pinhole, weak perspective, K under crops), 2.5D ⇄ 3D, alignment.

Imports nothing of handkit but `hand/` and `utils/`.
"""

from handkit.geometry.align import Similarity, align_root_scale, procrustes, procrustes_transform
from handkit.geometry.camera import (
    backproject,
    crop_resize_matrix,
    flip_K,
    pixel_rays,
    project,
    resize_matrix,
    transform_K,
    weak_perspective_project,
)
from handkit.geometry.pose25d import CONVENTIONS, Convention, from_25d, root_depth, to_25d

__all__ = [
    "project", "backproject", "pixel_rays", "weak_perspective_project", "transform_K",
    "crop_resize_matrix", "resize_matrix", "flip_K",
    "CONVENTIONS", "Convention", "to_25d", "root_depth", "from_25d",
    "Similarity", "procrustes", "procrustes_transform", "align_root_scale",
]
