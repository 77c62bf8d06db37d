"""The parametric hand-model interface shared by OpenHand and MANO, and the pure LBS maths.

A hand model maps ``(global_orient, finger_pose, shape, handedness, transl)`` to a frozen
`HandOutput` (vertices, faces, the 21 keypoints in handkit order, per-joint rotations, per-vertex
part labels). ``forward`` stores nothing (style rule R6); handedness is an argument.

**Convention (pose):** axis-angle, radians, as MANO (specs/mesh.md §1.3-1.4). ``global_orient``
rotates the whole hand about the wrist joint (the model's rest wrist sits at its origin for
OpenHand; MANO rotates about its J₀). ``finger_pose[:, k]`` is the rotation of joint
``POSE_JOINTS[k]`` (handkit ids: thumb CMC, MCP, IP, index MCP, PIP, DIP, ..., pinky DIP)
relative to its parent, expressed in the model's rest frame (MANO's LBS convention). A MANO
implementation gathers its own joint order from this one.

**Convention (left hands):** a left hand is the mirror image (x → −x) of the right hand:
``model(mirror_pose(p), handedness="left") == mirror_xyz(model(p, handedness="right"))`` before
``transl``, which is added last in the output frame. Faces of the left hand have reversed winding
so normals still point outwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import torch
from torch import Tensor, nn

from handkit.utils.check import check_choice, check_finite, check_shape

__all__ = [
    "POSE_JOINTS", "NUM_POSE_JOINTS", "PART_NAMES", "HANDEDNESS", "Handedness",
    "aa_to_rotmat", "forward_kinematics", "lbs", "mirror_pose",
    "HandOutput", "HandModel",
]

POSE_JOINTS: tuple[int, ...] = (1, 2, 3, 5, 6, 7, 9, 10, 11, 13, 14, 15, 17, 18, 19)
"""handkit ids of the 15 posed finger joints (every joint but the wrist and the 5 tips)."""
NUM_POSE_JOINTS = 15
PART_NAMES: tuple[str, ...] = ("palm",) + tuple(
    f"{finger}_{seg}" for finger in ("thumb", "index", "middle", "ring", "pinky")
    for seg in ("proximal", "middle", "distal"))
"""Vertex part labels: 0 palm, then 3 segments per finger (thumb: metacarpal, proximal, distal,
named proximal/middle/distal here), handkit finger order. Part ``1 + k`` is moved by the joint
``POSE_JOINTS[k]``."""
HANDEDNESS = {"right": 1.0, "left": -1.0}
Handedness = Literal["right", "left"]


def aa_to_rotmat(aa: Tensor) -> Tensor:
    """Rodrigues' formula, exact and with finite gradients everywhere, including at zero.

    Args:
        aa: (..., 3) float, axis-angle, radians (direction = axis, norm = angle).

    Returns:
        (..., 3, 3) rotation matrices, same dtype/device.

    Convention: R = I + (sin θ/θ) [ω]× + ((1 − cos θ)/θ²) [ω]×², with the Taylor series of the
    two coefficients below θ² = 1e-8 (so d/dω is finite and exact at ω = 0, unlike S2HAND's).
    """
    theta2 = (aa * aa).sum(-1, keepdim=True)[..., None]  # (..., 1, 1)
    small = theta2 < 1e-8
    safe2 = torch.where(small, torch.ones_like(theta2), theta2)
    theta = safe2.sqrt()
    a = torch.where(small, 1.0 - theta2 / 6.0, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24.0, (1.0 - torch.cos(theta)) / safe2)
    x, y, z = aa.unbind(-1)
    zero = torch.zeros_like(x)
    skew = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(*aa.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device).expand_as(skew)
    return eye + a * skew + b * (skew @ skew)


@lru_cache(maxsize=16)
def _levels(parents: tuple[int, ...]) -> tuple[tuple[list[int], list[int] | None], ...]:
    """Joints grouped by depth in the tree: ((ids, parent ids or None for roots), ...)."""
    depth: list[int] = []
    for k, p in enumerate(parents):
        if p >= k:
            raise ValueError(f"parents: joint {k} has parent {p}; parents must precede children.")
        depth.append(0 if p < 0 else depth[p] + 1)
    out = []
    for d in range(max(depth) + 1):
        ids = [k for k in range(len(parents)) if depth[k] == d]
        out.append((ids, None if d == 0 else [parents[k] for k in ids]))
    return tuple(out)


def forward_kinematics(rotmats: Tensor, joints_rest: Tensor,
                       parents: tuple[int, ...]) -> tuple[Tensor, Tensor]:
    """Chain local rotations down a kinematic tree (MANO's LBS step 6, specs/mesh.md §1.4).

    Args:
        rotmats: (B, J, 3, 3) float, rotation of each joint relative to its parent, rest frame.
        joints_rest: (B, J, 3) float, rest joint positions, meters, model frame.
        parents: J parent ids, -1 for the root; every parent precedes its children.

    Returns:
        joints: (B, J, 3) posed joint positions, meters.
        transforms: (B, J, 3, 4) rest-relative world transforms G′_k = G_k · [I | −J_k], ready
            for `lbs`.
    """
    rot = torch.empty_like(rotmats)
    joints = torch.empty_like(joints_rest)
    for level in _levels(tuple(parents)):  # all joints of one tree depth at once
        ids, par = level
        if par is None:
            rot[:, ids], joints[:, ids] = rotmats[:, ids], joints_rest[:, ids]
            continue
        offset = joints_rest[:, ids] - joints_rest[:, par]
        rot[:, ids] = rot[:, par] @ rotmats[:, ids]
        joints[:, ids] = joints[:, par] + (rot[:, par] @ offset[..., None])[..., 0]
    trans = joints - (rot @ joints_rest[..., None])[..., 0]
    return joints, torch.cat([rot, trans[..., None]], dim=-1)


def lbs(vertices_rest: Tensor, weights: Tensor, transforms: Tensor) -> Tensor:
    """Linear blend skinning: v = Σ_k w_vk · G′_k · [v; 1].

    Args:
        vertices_rest: (B, V, 3) float, rest vertices, meters, model frame.
        weights: (V, J) float, skinning weights, rows sum to 1.
        transforms: (B, J, 3, 4) rest-relative transforms from `forward_kinematics`.

    Returns:
        (B, V, 3) posed vertices, meters.
    """
    blended = torch.einsum("vj,bjrc->bvrc", weights, transforms)  # (B, V, 3, 4)
    return (blended[..., :3] @ vertices_rest[..., None])[..., 0] + blended[..., 3]


def mirror_pose(aa: Tensor) -> Tensor:
    """Mirror axis-angle rotations through the x = 0 plane: (x, y, z) → (x, −y, −z). (..., 3)."""
    return aa * aa.new_tensor([1.0, -1.0, -1.0])


@dataclass(frozen=True)
class HandOutput:
    """What every hand model returns (style rule R6)."""

    vertices: Tensor  # (B, V, 3) float, meters, output frame (after global_orient and transl)
    faces: Tensor  # (F, 3) int64 vertex ids, outward winding for this handedness
    joints: Tensor  # (B, 21, 3) float, meters, handkit order (hand/skeleton.py), tips included
    rotmats: Tensor  # (B, 16, 3, 3) float, global rotation of the wrist + 15 POSE_JOINTS
    parts: Tensor  # (V,) int64, index into PART_NAMES


class HandModel(nn.Module):
    """Base class of parametric hand models (OpenHand, MANO): checks inputs, mirrors left hands.

    A subclass implements `_forward_right(global_orient, finger_pose, shape)` returning the
    right-hand vertices (B, V, 3), joints (B, 21, 3) and global rotations (B, 16, 3, 3) before
    translation, and sets `num_shape`, buffers `faces` (F, 3) and `parts` (V,).
    """

    num_shape: int = 10
    faces: Tensor
    parts: Tensor

    def _forward_right(self, global_orient: Tensor, finger_pose: Tensor,
                       shape: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        raise NotImplementedError

    def forward(self, global_orient: Tensor, finger_pose: Tensor, shape: Tensor | None = None,
                *, handedness: Handedness = "right", transl: Tensor | None = None) -> HandOutput:
        """Pose, shape and place a hand.

        Args:
            global_orient: (B, 3) float, axis-angle, radians, rotation about the wrist.
            finger_pose: (B, 15, 3) float, axis-angle, radians, joints `POSE_JOINTS`, relative
                to the parent, in the rest frame.
            shape: (B, num_shape) float, unitless shape coefficients (0 = mean hand); None = 0.
            handedness: ``"right"`` or ``"left"`` (left = mirror image of right, see module doc).
            transl: (B, 3) float, meters, added to every vertex and joint last; None = 0.

        Returns:
            `HandOutput`, same dtype/device as `global_orient`.
        """
        check_choice(handedness, HANDEDNESS, name="handedness")
        dims = check_shape(global_orient, "B 3", name="global_orient")
        check_shape(finger_pose, f"{dims['B']} {NUM_POSE_JOINTS} 3", name="finger_pose",
                    hint="finger_pose is (B, 15, 3) axis-angle; reshape a (B, 45) vector first.")
        check_finite(global_orient, name="global_orient")
        check_finite(finger_pose, name="finger_pose")
        if shape is None:
            shape = global_orient.new_zeros(dims["B"], self.num_shape)
        check_shape(shape, f"{dims['B']} {self.num_shape}", name="shape")
        left = handedness == "left"
        if left:
            global_orient, finger_pose = mirror_pose(global_orient), mirror_pose(finger_pose)
        vertices, joints, rotmats = self._forward_right(global_orient, finger_pose, shape)
        faces = self.faces
        if left:
            flip = vertices.new_tensor([-1.0, 1.0, 1.0])
            vertices, joints = vertices * flip, joints * flip
            rotmats = rotmats * (flip[:, None] * flip[None, :])
            faces = faces.flip(-1)
        if transl is not None:
            check_shape(transl, f"{dims['B']} 3", name="transl")
            vertices = vertices + transl[:, None]
            joints = joints + transl[:, None]
        return HandOutput(vertices=vertices, faces=faces, joints=joints, rotmats=rotmats,
                          parts=self.parts)
