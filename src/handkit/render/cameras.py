"""Cameras for the renderer: camera-frame vertices → screen vertices (u px, v px, z m).

Both wrap `handkit.geometry.camera` (one projection in handkit): `PinholeCamera` is full
perspective with real intrinsics, as S2HAND renders with the dataset K (specs/mesh.md §2.4),
and SMHR with its fixed f = 512 px (§3.4); `WeakPerspectiveCamera` is uv = s·xy + t.

**Convention:** meters, camera frame x right, y down, z forward; pixels in handkit's continuous
convention (geometry/camera.py). The screen z is the camera-frame depth in meters.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from handkit.geometry.camera import project, weak_perspective_project
from handkit.utils.check import check_shape

__all__ = ["PinholeCamera", "WeakPerspectiveCamera"]


def _batch_of(verts: Tensor) -> int:
    return check_shape(verts, "B V 3", name="verts",
                       hint="vertices are (B, V, 3) meters; add a batch dim with verts[None].")["B"]


@dataclass(frozen=True)
class PinholeCamera:
    """Pinhole camera with intrinsics K and an optional world → camera transform.

    Attributes:
        K: (B, 3, 3) float intrinsics, pixels (a (3, 3) K is shared by the batch).
        R: (B, 3, 3) float rotation world → camera, or None (vertices already in camera frame).
        t: (B, 3) float translation, meters, or None: x_cam = R x + t.
    """

    K: Tensor
    R: Tensor | None = None
    t: Tensor | None = None
    perspective_correct = True  # barycentrics interpolate in 3D

    def __post_init__(self) -> None:
        shape = tuple(self.K.shape) if isinstance(self.K, Tensor) else None
        if shape is None or len(shape) not in (2, 3) or shape[-2:] != (3, 3):
            raise ValueError(f"K: expected (B, 3, 3) or (3, 3) intrinsics in pixels, got "
                             f"{shape if shape is not None else type(self.K).__name__}.")
        if self.R is not None:
            check_shape(self.R, "* 3 3", name="R")
        if self.t is not None:
            check_shape(self.t, "* 3", name="t")

    def to_camera(self, verts: Tensor) -> Tensor:
        """(B, V, 3) meters, world (or camera) frame → (B, V, 3) meters, camera frame."""
        b = _batch_of(verts)
        out = verts
        if self.R is not None:
            out = out @ self._batched(self.R, b, "R").transpose(-1, -2)
        if self.t is not None:
            out = out + self._batched(self.t, b, "t")[:, None]
        return out

    def to_screen(self, verts: Tensor) -> Tensor:
        """Screen vertices for `rasterize`.

        Args:
            verts: (B, V, 3) float, meters (camera frame, or world frame when R/t are given).

        Returns:
            (B, V, 3) float: u, v pixels (`geometry.camera.project`), z camera depth meters.
            Vertices at z ≤ 0 get meaningless uv; the rasteriser drops their faces (znear).
        """
        cam = self.to_camera(verts)
        K = self._batched(self.K, cam.shape[0], "K").to(cam)
        uv = project(cam, K)
        return torch.cat([uv, cam[..., 2:]], dim=-1)

    @staticmethod
    def _batched(x: Tensor, batch: int, name: str) -> Tensor:
        """Expand a shared parameter to the batch or check that its batch matches."""
        one = x.ndim == (2 if name != "t" else 1)
        if one:
            return x.expand(batch, *x.shape)
        if x.shape[0] != batch:
            raise ValueError(f"{name}: batch {x.shape[0]} does not match verts' batch {batch}; "
                             f"pass one {name} per image or a single shared one.")
        return x


@dataclass(frozen=True)
class WeakPerspectiveCamera:
    """Scaled orthographic camera: u = s·x + tx, v = s·y + ty.

    Attributes:
        scale: (B,) float, pixels per meter (or a scalar).
        trans: (B, 2) float, pixels.
        z_offset: meters added to z for the rasteriser only (depth ordering and the znear cut);
            root-relative meshes sit around z = 0, behind a pinhole near plane.
    """

    scale: Tensor
    trans: Tensor
    z_offset: float = 1.0
    perspective_correct = False  # screen-affine barycentrics

    def to_screen(self, verts: Tensor) -> Tensor:
        """(B, V, 3) meters → (B, V, 3): u, v pixels and z + z_offset meters."""
        b = _batch_of(verts)
        if self.trans.ndim != 2 or self.trans.shape[0] != b:
            raise ValueError(f"trans: expected ({b}, 2) pixels (verts' batch), got "
                             f"{tuple(self.trans.shape)}.")
        uv = weak_perspective_project(verts, self.scale, self.trans)
        return torch.cat([uv, verts[..., 2:] + self.z_offset], dim=-1)
