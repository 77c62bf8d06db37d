"""DIGIT's 2.5D targets and its five loss terms (specs/digit.md §2.1-2.2), as pure functions.

**Layout (the model's, kept for the released weights):** J = 42 joints in InterHand2.6M order,
right hand 0-20, left hand 21-41, each finger tip → base, the wrists (roots) at 20 and 41
(`hand.skeleton` ``"interhand"`` order per hand). Convert handkit hands with
`to_interhand42` / `from_interhand42`.

**2.5D heat-map units ("hm units").** For a P×P input patch and an h×h heat-map (official
P = 256, h = 64):

- ``x_hm = x_patch · h / P``, ``y_hm = y_patch · h / P`` (no half-pixel shift; the model's
  soft-argmax reads cell c at c + 0.5, `models.digit.soft_argmax_2d`);
- ``z_hm = (z_rel / (D / 2) + 1) / 2 · d``: ``z_rel`` = the joint's camera depth minus its own
  hand's root depth, D = ``depth_range`` (official 400 mm = 0.4 m), d = ``depth_bins`` (64),
  so ±D/2 maps onto [0, d);
- relative root depth ``rel_hm = (rel / (D / 2) + 1) / 2 · d``, ``rel = Z_left root − Z_right
  root`` (official D = 400 mm, d = 64).

Meters everywhere in handkit, so D defaults to 0.4 (m). The inverse and the lifting to 3D are
`decode_depth` and `lift_25d` (which is `geometry.pose25d.from_25d` with metric scale 1 and a
given root depth: X = K⁻¹[u, v, 1]ᵀ · (z_rel + Z_root)).

**Loss reductions (the official ones, kept because they set the terms' balance):** every term
is a plain ``.mean()`` over all entries, invalid ones included (they add zero but count in the
denominator); the weights are 1, 1, 1, 10 and 0.1 (`LOSS_WEIGHTS`).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from handkit.geometry.pose25d import from_25d
from handkit.hand.skeleton import INTERHAND_LEFT, INTERHAND_RIGHT, ORDERS, PARENTS, convert
from handkit.utils.check import check_shape

__all__ = [
    "NUM_JOINTS", "ROOTS", "BONES", "LOSS_WEIGHTS", "HAND_TYPE_TARGETS", "DigitTargets",
    "DigitLossTerms", "to_interhand42", "from_interhand42", "encode_depth", "decode_depth",
    "encode_25d", "hand_type_target", "lift_25d", "lift_42", "ROOT_OF_JOINT", "joint_l1_loss",
    "rel_root_depth_loss", "hand_type_loss", "segmentation_loss", "bone_loss", "digit_loss",
]

NUM_JOINTS = 42
ROOTS = (20, 41)
"""Right and left wrist (InterHand indices), the roots of their hands' relative depths."""
ROOT_OF_JOINT = (20,) * 21 + (41,) * 21
"""The root of each of the 42 joints' hand (``x - x[:, ROOT_OF_JOINT]`` root-aligns)."""


def _interhand_bones() -> tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]:
    """(child, parent) InterHand indices of the 20 bones of each hand, as DIGIT builds them from
    skeleton.txt (every joint whose parent is not −1), right then left."""
    order = ORDERS["interhand"]  # handkit joint j sits at InterHand index order[j]
    hands = []
    for base in (0, 21):
        bones = sorted((order[j] + base, order[PARENTS[j]] + base) for j in range(1, 21))
        hands.append(tuple(bones))
    return hands[0], hands[1]


BONES = _interhand_bones()
"""(right, left): 20 (child, parent) InterHand index pairs each, in child order."""
LOSS_WEIGHTS = {"joint": 1.0, "rel_root_depth": 1.0, "hand_type": 1.0, "segm": 10.0,
                "bone": 0.1}
"""DIGIT's term weights (``Model.forward``: segm × 10, bone × 0.1, the rest 1)."""
HAND_TYPE_TARGETS = {"right": (1.0, 0.0), "left": (0.0, 1.0), "interacting": (1.0, 1.0)}
"""The handedness head's targets, [right, left] (InterHand's ``hand_type``)."""


def to_interhand42(hands: Tensor) -> Tensor:
    """Two handkit-order hands → DIGIT's 42-joint layout.

    Args:
        hands: (B, 2, 21) or (B, 2, 21, C), hands [right, left], handkit order.

    Returns:
        (B, 42) or (B, 42, C), InterHand order, right 0-20, left 21-41.
    """
    flat = hands.ndim == 3
    x = hands[..., None] if flat else hands
    check_shape(x, "B 2 21 C", name="hands", hint="Hands are [right, left], handkit order.")
    out = torch.cat([convert(x[:, 0], "handkit", "interhand"),
                     convert(x[:, 1], "handkit", "interhand")], dim=1)
    return out[..., 0] if flat else out


def from_interhand42(joints: Tensor) -> Tensor:
    """DIGIT's (B, 42) or (B, 42, C) layout → (B, 2, 21[, C]) hands [right, left], handkit order."""
    flat = joints.ndim == 2
    x = joints[..., None] if flat else joints
    check_shape(x, "B 42 C", name="joints")
    out = torch.stack([convert(x[:, INTERHAND_RIGHT], "interhand", "handkit"),
                       convert(x[:, INTERHAND_LEFT], "interhand", "handkit")], dim=1)
    return out[..., 0] if flat else out


def encode_depth(z_rel: Tensor, *, depth_range: float = 0.4, depth_bins: int = 64) -> Tensor:
    """Relative depth → bins: (z_rel / (D / 2) + 1) / 2 · d (any shape; z_rel in D's unit)."""
    return (z_rel / (depth_range / 2) + 1) / 2 * depth_bins


def decode_depth(z_hm: Tensor, *, depth_range: float = 0.4, depth_bins: int = 64) -> Tensor:
    """Bins → relative depth: (z_hm / d · 2 − 1) · D / 2, the inverse of `encode_depth`."""
    return (z_hm / depth_bins * 2 - 1) * (depth_range / 2)


class DigitTargets(NamedTuple):
    """What `encode_25d` returns (the loader's ``targets`` and validity of §3.8)."""

    joints: Tensor      # (B, 42, 3) float, hm units (x, y on the h-grid; z in bins)
    joint_valid: Tensor  # (B, 42) bool, after root propagation, crop and depth culling
    rel_root: Tensor    # (B,) float, bins: the left root's depth relative to the right root
    root_valid: Tensor  # (B,) bool: both roots valid, interacting, rel_root in [0, d)


def encode_25d(uv_patch: Tensor, z_cam: Tensor, valid: Tensor, interacting: Tensor, *,
               patch_size: int = 256, hm_size: int = 64, depth_range: float = 0.4,
               depth_bins: int = 64, root_depth_range: float = 0.4,
               root_bins: int = 64) -> DigitTargets:
    """DIGIT's 2.5D targets (``transform_input_to_output_space``, specs/digit.md §2.1, §3.6).

    Args:
        uv_patch: (B, 42, 2) float, pixels of the P×P input patch (after the crop and any flip),
            InterHand order.
        z_cam: (B, 42) float, camera depth, the unit of `depth_range` (meters by default).
        valid: (B, 42) bool annotation validity.
        interacting: (B,) bool, hand_type is [1, 1] (after any flip).
        patch_size, hm_size: P and h (official 256, 64).
        depth_range, depth_bins: D and d of the joints' relative depth (official 400 mm, 64).
        root_depth_range, root_bins: the same for the relative root depth (official 400 mm, 64).

    Returns:
        `DigitTargets`. Validity: a hand whose root is invalid is wholly invalid; a joint outside
        the patch (not 0 ≤ x, y < P) or outside the depth range (not 0 ≤ z_hm < d) is invalid.
        The root target needs both roots valid after that culling and an interacting frame.
    """
    b = check_shape(uv_patch, "B 42 2", name="uv_patch")["B"]
    check_shape(z_cam, f"{b} 42", name="z_cam")
    check_shape(valid, f"{b} 42", name="valid")
    check_shape(interacting, f"{b}", name="interacting")
    valid = valid.bool()
    roots_valid = torch.repeat_interleave(valid[:, list(ROOTS)], 21, dim=1)  # (B, 42)
    valid = valid & roots_valid
    roots_z = torch.repeat_interleave(z_cam[:, list(ROOTS)], 21, dim=1)  # (B, 42)
    z_hm = encode_depth(z_cam - roots_z, depth_range=depth_range, depth_bins=depth_bins)
    xy_hm = uv_patch * (hm_size / patch_size)
    inside = ((uv_patch >= 0) & (uv_patch < patch_size)).all(-1)
    valid &= inside & (z_hm >= 0) & (z_hm < depth_bins)
    rel = encode_depth(z_cam[:, ROOTS[1]] - z_cam[:, ROOTS[0]], depth_range=root_depth_range,
                       depth_bins=root_bins)
    root_valid = (valid[:, ROOTS[0]] & valid[:, ROOTS[1]] & interacting.bool()
                  & (rel >= 0) & (rel < root_bins))
    joints = torch.cat([xy_hm, z_hm[..., None]], dim=-1)
    return DigitTargets(joints, valid, rel, root_valid)


def hand_type_target(hand_types: list[str]) -> Tensor:
    """(B, 2) float [right, left] targets from InterHand ``hand_type`` strings.

    Raises:
        ValueError: a value outside "right", "left", "interacting" (named with its index).
    """
    rows = []
    for i, t in enumerate(hand_types):
        if t not in HAND_TYPE_TARGETS:
            raise ValueError(f"hand_type[{i}]: expected one of {sorted(HAND_TYPE_TARGETS)}, "
                             f"got {t!r}.")
        rows.append(HAND_TYPE_TARGETS[t])
    return torch.tensor(rows, dtype=torch.float32).reshape(-1, 2)


def lift_25d(uv_image: Tensor, z_rel: Tensor, K: Tensor, root_depth: Tensor) -> Tensor:
    """One hand's 2.5D in image pixels → camera-frame 3D (``convert_2p5_3d``, §2.1 / §4.1).

    Args:
        uv_image: (B, 21, 2) float, pixels of the original image (after the crop's inverse).
        z_rel: (B, 21) float, meters, depth relative to the hand's root (`decode_depth`).
        K: (3, 3) or (B, 3, 3) float intrinsics, pixels.
        root_depth: (B,) float, meters, the root's absolute depth (GT or RootNet).

    Returns:
        (B, 21, 3) float, meters, camera frame: K⁻¹[u, v, 1]ᵀ · (z_rel + root_depth).
    """
    return from_25d(uv_image, z_rel, K, scale=1.0, root_depth=root_depth)


def lift_42(joints: Tensor, K: Tensor, root_depth: Tensor, *, px_per_hm: float,
            depth_range: float = 0.4, depth_bins: int = 64) -> Tensor:
    """Both hands' 2.5D (hm units, bins) → camera-frame 3D, each hand with its root depth.

    Args:
        joints: (B, 42, 3) float: x, y hm units, z bins (InterHand order).
        K: (B, 3, 3) or (3, 3) intrinsics of the pixels ``x · px_per_hm`` live in (a crop's
            K' = T K: the lifting through it equals mapping the 2D back to the image first).
        root_depth: (B, 2) float, meters, the right and left roots' absolute depths.
        px_per_hm: pixels per hm unit (the backbone's stride: 256 / 64 = 4).
        depth_range, depth_bins: D and d of `decode_depth` (official 0.4 m, 64).

    Returns:
        (B, 42, 3) float, meters, camera frame, InterHand order.
    """
    b = check_shape(joints, "B 42 3", name="joints")["B"]
    check_shape(root_depth, f"{b} 2", name="root_depth")
    uv = joints[..., :2] * px_per_hm
    z_rel = decode_depth(joints[..., 2], depth_range=depth_range, depth_bins=depth_bins)
    return torch.cat([lift_25d(uv[:, h], z_rel[:, h], K, root_depth[:, k])
                      for k, h in enumerate((INTERHAND_RIGHT, INTERHAND_LEFT))], dim=1)


def _weighted_mean(err: Tensor, weight: Tensor) -> Tensor:
    return (err * weight.to(err.dtype)).mean()


def joint_l1_loss(pred: Tensor, target: Tensor, valid: Tensor) -> Tensor:
    """``loss_joint``: mean over B·42·3 of |pred − target| · valid (invalid entries count).

    Args:
        pred, target: (B, 42, 3) float, hm units. valid: (B, 42) bool or float.

    Returns:
        () float, hm units.
    """
    b = check_shape(pred, "B 42 3", name="pred")["B"]
    check_shape(target, f"{b} 42 3", name="target")
    check_shape(valid, f"{b} 42", name="valid")
    return _weighted_mean((pred - target).abs(), valid[..., None])


def rel_root_depth_loss(pred: Tensor, target: Tensor, valid: Tensor) -> Tensor:
    """``loss_rel_root_depth``: mean over B of |pred − target| · valid.

    Args:
        pred, target: (B,) float, bins. valid: (B,) bool or float.
    """
    b = check_shape(pred, "B", name="pred")["B"]
    check_shape(target, f"{b}", name="target")
    check_shape(valid, f"{b}", name="valid")
    return _weighted_mean((pred - target).abs(), valid)


def hand_type_loss(logits: Tensor, target: Tensor, valid: Tensor) -> Tensor:
    """``loss_hand_type``: mean over B of [mean over the 2 outputs of BCE-with-logits] · valid.

    Args:
        logits: (B, 2) float, [right, left]. target: (B, 2) float in {0, 1}
            (`hand_type_target`). valid: (B,) bool or float (``hand_type_valid``).
    """
    b = check_shape(logits, "B 2", name="logits")["B"]
    check_shape(target, f"{b} 2", name="target")
    check_shape(valid, f"{b}", name="valid")
    bce = F.binary_cross_entropy_with_logits(logits, target.to(logits.dtype), reduction="none")
    return _weighted_mean(bce.mean(1), valid)


def segmentation_loss(logits: Tensor, target: Tensor, valid: Tensor) -> Tensor:
    """``loss_segm`` before its ×10: mean over B·H·W of per-pixel cross-entropy · valid.

    A sample without a mask (valid 0) adds zero but still counts in the mean (the official
    reduction, which dilutes the term when masks are missing).

    Args:
        logits: (B, C, H, W) float part logits (C = 33). target: (B, H, W) int64 class ids at
            the logits' resolution. valid: (B,) bool or float (``segm_valid``).
    """
    b = check_shape(logits, "B C H W", name="logits")["B"]
    h, w = logits.shape[-2:]
    check_shape(target, f"{b} {h} {w}", name="target",
                hint="Downsample the labels to the logits' size with nearest neighbour first.")
    check_shape(valid, f"{b}", name="valid")
    ce = F.cross_entropy(logits, target.long(), reduction="none")
    return _weighted_mean(ce, valid[:, None, None])


def bone_loss(pred: Tensor, target: Tensor, valid: Tensor) -> Tensor:
    """``loss_bone`` before its ×0.1: E_R + E_L, E_H = mean over B·20·3 of
    (bone_pred − bone_gt)² · valid(child) · valid(parent), bones = joint − parent in hm units.

    Args:
        pred, target: (B, 42, 3) float, hm units. valid: (B, 42) bool or float.
    """
    b = check_shape(pred, "B 42 3", name="pred")["B"]
    check_shape(target, f"{b} 42 3", name="target")
    check_shape(valid, f"{b} 42", name="valid")
    total = pred.new_zeros(())
    v = valid.to(pred.dtype)
    for bones in BONES:
        child, parent = (list(x) for x in zip(*bones))
        err = ((pred[:, child] - pred[:, parent]) - (target[:, child] - target[:, parent])) ** 2
        total = total + (err * (v[:, child] * v[:, parent])[..., None]).mean()
    return total


class DigitLossTerms(NamedTuple):
    """`digit_loss` output: ``total`` = Σ weight · term; each term unweighted, () float."""

    total: Tensor
    joint: Tensor
    rel_root_depth: Tensor
    hand_type: Tensor
    segm: Tensor
    bone: Tensor


def digit_loss(joints: Tensor, rel_root: Tensor, hand_logits: Tensor,
               segm_logits: Tensor | None, *,
               target: DigitTargets, hand_type: Tensor, hand_type_valid: Tensor,
               segm: Tensor, segm_valid: Tensor,
               weights: dict[str, float] | None = None) -> DigitLossTerms:
    """DIGIT's training loss (``Model.forward``): the five terms, weighted and summed.

    Args:
        joints: (B, 42, 3) float, predicted 2.5D, hm units. rel_root: (B,) float, bins.
        hand_logits: (B, 2) float. segm_logits: (B, 33, H, W) float, or None for a model
            without a segmentation branch (the term is then 0).
        target: from `encode_25d`. hand_type: (B, 2) float targets; hand_type_valid: (B,).
        segm: (B, H, W) int64 DIGIT class ids; segm_valid: (B,) bool.
        weights: term weights (default `LOSS_WEIGHTS`, the official ones).
    """
    w = dict(LOSS_WEIGHTS if weights is None else weights)
    if set(w) != set(LOSS_WEIGHTS):
        raise ValueError(f"weights: expected the keys {sorted(LOSS_WEIGHTS)}, got {sorted(w)}.")
    terms = {
        "joint": joint_l1_loss(joints, target.joints, target.joint_valid),
        "rel_root_depth": rel_root_depth_loss(rel_root, target.rel_root, target.root_valid),
        "hand_type": hand_type_loss(hand_logits, hand_type, hand_type_valid),
        "segm": (joints.new_zeros(()) if segm_logits is None
                 else segmentation_loss(segm_logits, segm, segm_valid)),
        "bone": bone_loss(joints, target.joints, target.joint_valid),
    }
    total = sum(w[k] * v for k, v in terms.items())
    return DigitLossTerms(total=total, **terms)
