"""SMHR's loss terms (specs/mesh.md §3.5), one function per term, per sample.

Every term returns a (B,) tensor (SMHR keeps per-sample totals for its top-70 % hard-example
mining); `SMHR_WEIGHTS` holds the official weights of both paths. The centre and handedness
terms are `losses.centernet.focal_loss`.

**Convention (pose limits):** `SMHR_POSE_LIMITS_RIGHT` is S2HAND's ``tsa_poses`` box for the 15
finger joints in MANO's order (index, middle, pinky, ring, thumb; 3 each), per axis-angle
component (x, y, z), in degrees; the prior applies it to the raw (flat, no mean) axis-angle in
radians. The left box mirrors it as ``hand.model.mirror_pose`` mirrors a pose: x unchanged,
y and z intervals negated (specs/mesh.md §3.5).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from handkit.geometry.align import procrustes_transform
from handkit.hand.skeleton import BONES
from handkit.utils.check import check_choice, check_shape

__all__ = ["SMHR_POSE_LIMITS_RIGHT", "SMHR_POSE_LIMITS_LEFT", "SMHR_WEIGHTS", "JOINTS3D_ALIGN",
           "reprojection_loss", "bone_direction_loss", "joints3d_loss", "norm_prior",
           "photometric_loss"]

JOINTS3D_ALIGN = {
    "none": "SMHR's: root-relative joints compared in the camera frame",
    "rotation": "handkit's option: the label first turned onto the prediction (articulation only)",
}


def _limits_right() -> Tensor:
    first = [[-5, 5], [-10, 10], [-10, 100]]
    later = [[-5, 5], [-5, 5], [-10, 100]]
    pinky1 = [[-20, 5], [-10, 20], [-10, 100]]
    thumb = [[[0, 90], [-22.5, 33.75], [-22.5, 22.5]],
             [[-5, 5], [-5, 5], [-22.5, 22.5]],
             [[-5, 5], [-5, 5], [-20, 100]]]
    rows = [first, later, later] * 2 + [pinky1, later, later] + [first, later, later] + thumb
    return torch.tensor(rows, dtype=torch.float64)  # (15, 3, 2): index, middle, pinky, ring, thumb


SMHR_POSE_LIMITS_RIGHT = _limits_right()
"""(15, 3, 2) float64 degrees, [lo, hi] per MANO finger joint (MANO order) and component."""
SMHR_POSE_LIMITS_LEFT = torch.stack(
    [SMHR_POSE_LIMITS_RIGHT[:, 0],
     -SMHR_POSE_LIMITS_RIGHT[:, 1].flip(-1),
     -SMHR_POSE_LIMITS_RIGHT[:, 2].flip(-1)], dim=1)
"""The left hand's box: x as the right, y and z intervals negated ([lo, hi] → [−hi, −lo])."""

SMHR_WEIGHTS = {
    "single": {"center": 100.0, "handedness": 20.0, "reprojection": 10.0, "norm": 1000.0,
               "bone": 100.0, "photometric": 100.0, "joints3d": 0.0, "verts3d": 0.0},
    "multi": {"center": 100.0, "handedness": 100.0, "reprojection": 10.0, "norm": 1000.0,
              "bone": 100.0, "photometric": 100.0, "joints3d": 10.0, "verts3d": 10.0},
}
"""The official weights (specs/mesh.md §3.5 table): single-hand path (224 px) and multi-hand path
(384 px, ``--pick_hand``). The reprojection term already carries its own × 0.01."""


def _mask_mean(values: Tensor, weights: Tensor | None, dims: tuple[int, ...]) -> Tensor:
    if weights is None:
        return values.mean(dims)
    weights = weights.to(values)
    return (values * weights).sum(dims) / weights.sum(dims).clamp_min(1.0)


def reprojection_loss(uv: Tensor, uv_gt: Tensor, valid: Tensor | None = None) -> Tensor:
    """0.01 × the mean over joints and both coordinates of (û − u)², px², per hand.

    Args:
        uv: (..., 21, 2) float, projected model keypoints, pixels of the network input.
        uv_gt: (..., 21, 2) float, labelled keypoints, same pixels.
        valid: optional (..., 21) bool/float joint weights (None: every joint, as SMHR; with
            weights the mean is over the valid joints' coordinates).

    Returns:
        (...,) float, px² × 0.01.
    """
    check_shape(uv, "* 21 2", name="uv")
    check_shape(uv_gt, "* 21 2", name="uv_gt")
    sq = (uv - uv_gt) ** 2
    w = None if valid is None else valid[..., None].expand_as(sq)
    return 0.01 * _mask_mean(sq, w, (-2, -1))


def _unit_bones(xyz: Tensor) -> Tensor:
    parent = xyz[..., [p for p, _ in BONES], :]
    child = xyz[..., [c for _, c in BONES], :]
    v = child - parent
    return v / torch.sqrt((v * v).sum(-1, keepdim=True) + 1e-4)


def bone_direction_loss(points: Tensor, points_gt: Tensor, valid: Tensor | None = None) -> Tensor:
    """Mean over the 20 bones of ‖ê − ê_gt‖², ê = v / √(‖v‖² + 1e-4) (SMHR: confidence 1).

    SMHR takes the bones of the 2D keypoints (pixels): ``points`` the projected model joints,
    ``points_gt`` the labels. Any dimension C works.

    Args:
        points, points_gt: (..., 21, C) float, handkit order (bones `hand.skeleton.BONES`).
        valid: optional (..., 21) joint weights; a bone counts with parent × child.

    Returns:
        (...,) float, unitless (each bone term in [0, 4]).
    """
    check_shape(points, "* 21 C", name="points")
    check_shape(points_gt, "* 21 C", name="points_gt")
    diff = ((_unit_bones(points) - _unit_bones(points_gt)) ** 2).sum(-1)  # (..., 20)
    w = None
    if valid is not None:
        v = valid.to(points.dtype)
        w = v[..., [p for p, _ in BONES]] * v[..., [c for _, c in BONES]]
    return _mask_mean(diff, w, (-1,))


def joints3d_loss(joints: Tensor, joints_gt: Tensor, *, align: str = "none") -> Tensor:
    """Root-relative 3D joint L1 (SMHR's 3D term): 1000 · mean |(J − J₀) − (Ĵ − Ĵ₀)|, mm.

    ``align="rotation"`` (handkit's option, `JOINTS3D_ALIGN`) first turns each root-relative
    label by the rotation of its best similarity onto the prediction
    (`geometry.align.procrustes_transform`, no gradient through it). Why: in the camera frame,
    a network that cannot yet read the hand's rotation from the image lowers this term most by
    predicting a rotation-averaged, curled and shrunk hand (docs/smhr.md); aligned, the term
    judges the articulation only and the 2D terms own the rotation.

    Args:
        joints: (..., 21, 3) float meters, predicted. joints_gt: (..., 21, 3) float meters.
        align: `JOINTS3D_ALIGN` key.

    Returns:
        (...) float, mm per hand.
    """
    check_choice(align, JOINTS3D_ALIGN, name="joints3d_align")
    if joints.shape != joints_gt.shape or joints.shape[-2:] != (21, 3):
        raise ValueError(f"joints, joints_gt: expected equal (..., 21, 3), got "
                         f"{tuple(joints.shape)} and {tuple(joints_gt.shape)}.")
    pred = joints - joints[..., :1, :]
    gt = joints_gt - joints_gt[..., :1, :]
    if align == "rotation":
        flat_pred, flat_gt = pred.reshape(-1, 21, 3), gt.reshape(-1, 21, 3)
        with torch.no_grad():
            rotation = procrustes_transform(flat_gt, flat_pred.detach()).rotation
        gt = (flat_gt @ rotation.to(gt)).reshape(gt.shape)
    return 1000 * (pred - gt).abs().mean((-1, -2))


def norm_prior(finger_aa: Tensor, shape: Tensor, limits_deg: Tensor, *,
               shape_weight: float = 0.1) -> Tensor:
    """SMHR's ``NormLoss``: mean over the 45 components of the hinge outside [lo, hi], plus
    ``shape_weight`` × mean(β²).

    Args:
        finger_aa: (..., 45) or (..., 15, 3) float, axis-angle, radians, in the joint order of
            `limits_deg` (MANO's for the SMHR tables), flat (no mean added).
        shape: (..., S) float, shape coefficients β.
        limits_deg: (15, 3, 2) float, degrees (`SMHR_POSE_LIMITS_RIGHT` / `_LEFT`).

    Returns:
        (...,) float: radians (hinge) + unitless (β²).
    """
    if finger_aa.shape[-1] == 45:
        finger_aa = finger_aa.unflatten(-1, (15, 3))
    check_shape(finger_aa, "* 15 3", name="finger_aa")
    check_shape(limits_deg, "15 3 2", name="limits_deg")
    lim = limits_deg.to(finger_aa) * (math.pi / 180.0)
    lo, hi = lim[..., 0], lim[..., 1]
    hinge = torch.relu(finger_aa - hi) + torch.relu(lo - finger_aa)
    return hinge.flatten(-2).mean(-1) + shape_weight * (shape ** 2).mean(-1)


def photometric_loss(rendered: Tensor, image: Tensor, mask: Tensor) -> Tensor:
    """SMHR's photometric term: Σ_pixels ‖r − I‖₂ · M / (Σ M + 1e-4), per image.

    Args:
        rendered: (B, H, W, 3) float RGB in [0, 1] (the SH-lit render).
        image: (B, H, W, 3) float RGB in [0, 1] (the augmented input).
        mask: (B, H, W) float, rendered mask ⊙ skin mask, in [0, 1].

    Returns:
        (B,) float, mean per-pixel RGB distance over the masked pixels.
    """
    dims = check_shape(rendered, "B H W 3", name="rendered")
    check_shape(image, f"{dims['B']} {dims['H']} {dims['W']} 3", name="image")
    check_shape(mask, f"{dims['B']} {dims['H']} {dims['W']}", name="mask")
    # sqrt(x + tiny) keeps the gradient finite where render and image agree exactly
    dist = torch.sqrt(((rendered - image) ** 2).sum(-1) + 1e-12)
    return (dist * mask).sum((1, 2)) / (mask.sum((1, 2)) + 1e-4)
