"""handkit's one keypoint order and every conversion to and from the datasets' orders.

**Convention (handkit order = FreiHAND/SNAP order = MediaPipe = OpenPose hand):**
0 wrist; 1-4 thumb (CMC, MCP, IP, tip); 5-8 index (MCP, PIP, DIP, tip); 9-12 middle;
13-16 ring; 17-20 pinky. Every finger runs base → tip.

**Convention (pixels):** continuous pixel coordinates with pixel corners on integers, so the
pixel in column i covers [i, i + 1) and its centre is i + 0.5. A horizontal image flip then maps
u → W − u exactly (the seeds' `224 − u`), and K's principal point of a W-wide crop is W / 2.

Other orders (specs/pretrain.md §4.3, specs/digit.md §3.3, specs/mesh.md §1.7):

- ``ait``: grouped by level: 0 wrist, 1-5 MCPs (thumb, index, middle, ring, pinky), 6-10 PIPs,
  11-15 DIPs, 16-20 tips. Internal order of PeCLR/SiMHand ``src/`` and RN_25D_wMLPref.
- ``mano``: MANO's 16 kinematic joints (wrist, index×3, middle×3, pinky×3, ring×3, thumb×3)
  then the 5 tips (thumb, index, middle, ring, pinky). Also HO3D's order.
- ``interhand``: one hand of InterHand2.6M: each finger tip → base (thumb, index, middle, ring,
  pinky), wrist last (20). Two-hand arrays are right 0-20, left 21-41
  (see `INTERHAND_RIGHT`, `INTERHAND_LEFT`).
- ``mediapipe`` and ``openpose``: the same order as handkit.
- ``rhd``: wrist, then each finger tip → base.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from handkit.utils.check import check_choice, check_shape

__all__ = [
    "NUM_JOINTS", "JOINT_NAMES", "FINGERS", "PARENTS", "BONES", "ROOT", "ORDERS",
    "TIP_VERTEX_SETS", "INTERHAND_RIGHT", "INTERHAND_LEFT",
    "order_index", "convert", "add_fingertips", "mirror_xyz", "mirror_uv",
    "wrist_to_palm", "palm_to_wrist", "bone_lengths",
]

NUM_JOINTS = 21
ROOT = 0
FINGERS = ("thumb", "index", "middle", "ring", "pinky")
_LEVELS = {"thumb": ("cmc", "mcp", "ip", "tip")}
JOINT_NAMES: tuple[str, ...] = ("wrist",) + tuple(
    f"{finger}_{level}"
    for finger in FINGERS
    for level in _LEVELS.get(finger, ("mcp", "pip", "dip", "tip"))
)
PARENTS: tuple[int, ...] = (-1,) + tuple(
    0 if k == 0 else 1 + 4 * f + k - 1 for f in range(5) for k in range(4)
)
BONES: tuple[tuple[int, int], ...] = tuple((p, c) for c, p in enumerate(PARENTS) if p >= 0)
"""(parent, child) pairs, 20 bones, handkit order."""

# ORDERS[name][j] = index, in order `name`, of handkit joint j.
_FINGER_BASE_TO_TIP = np.arange(1, 21).reshape(5, 4)  # handkit ids per finger, base → tip
ORDERS: dict[str, tuple[int, ...]] = {
    "handkit": tuple(range(21)),
    "mediapipe": tuple(range(21)),
    "openpose": tuple(range(21)),
    "ait": (0, 1, 6, 11, 16, 2, 7, 12, 17, 3, 8, 13, 18, 4, 9, 14, 19, 5, 10, 15, 20),
    "mano": (0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20),
    "interhand": (20,) + tuple(4 * f + 3 - k for f in range(5) for k in range(4)),
    "rhd": (0,) + tuple(4 * f + 4 - k for f in range(5) for k in range(4)),
}
OrderName = Literal["handkit", "ait", "mano", "interhand", "mediapipe", "openpose", "rhd"]

INTERHAND_RIGHT = slice(0, 21)
INTERHAND_LEFT = slice(21, 42)

TIP_VERTEX_SETS: dict[str, tuple[int, int, int, int, int]] = {
    # MANO vertex ids of the tips (thumb, index, middle, ring, pinky), specs/mesh.md §1.5-1.6.
    "freihand": (744, 320, 443, 555, 672),  # S2HAND, PeCLR/SiMHand get_joints_from_mano_mesh
    "smhr": (745, 317, 444, 556, 673),  # SMHR ManoLayer, right hand
    "smhr_left": (745, 317, 445, 556, 673),  # SMHR ManoLayer, side='left'
    "ho3d": (728, 353, 442, 576, 694),  # SMHR's smplx-style ManoModel, HO3D set
}


def order_index(src: str, dst: str) -> tuple[int, ...]:
    """Gather indices `g` such that `points_dst = points_src[..., g, :]`.

    Args:
        src, dst: order names, one of `ORDERS`.
    """
    check_choice(src, ORDERS, name="src")
    check_choice(dst, ORDERS, name="dst")
    to_handkit = ORDERS[src]  # handkit j lives at src index ORDERS[src][j]
    from_handkit = np.argsort(ORDERS[dst])  # dst index i holds handkit joint from_handkit[i]
    return tuple(int(to_handkit[j]) for j in from_handkit)


def convert(keypoints, src: str, dst: str):
    """Reorder 21 keypoints from order `src` to order `dst`.

    Args:
        keypoints: (..., 21, C) torch.Tensor or numpy.ndarray, any unit, in order `src`.
        src, dst: ``handkit``, ``ait``, ``mano``, ``interhand``, ``mediapipe``, ``openpose``, ``rhd``.

    Returns:
        Same type and shape as `keypoints`, in order `dst`.
    """
    check_shape(keypoints, "* 21 C", name="keypoints",
                hint="For InterHand2.6M's 42 joints, convert each hand: kp[..., INTERHAND_RIGHT, :].")
    index = order_index(src, dst)
    if isinstance(keypoints, torch.Tensor):
        return keypoints[..., torch.tensor(index, device=keypoints.device), :]
    return keypoints[..., list(index), :]


def add_fingertips(joints16, vertices, tips: str = "freihand"):
    """Append the 5 fingertip vertices to MANO's 16 joints, giving the ``mano`` 21 order.

    Args:
        joints16: (B, 16, 3) MANO kinematic joints (wrist, index×3, middle×3, pinky×3, ring×3, thumb×3).
        vertices: (B, 778, 3) MANO vertices, same unit and frame.
        tips: a key of `TIP_VERTEX_SETS` (which vertices are the tips differs between codebases).

    Returns:
        (B, 21, 3), ``mano`` order; `convert(..., "mano", "handkit")` gives handkit order.
    """
    check_choice(tips, TIP_VERTEX_SETS, name="tips")
    b = check_shape(joints16, "B 16 3", name="joints16")["B"]
    v = check_shape(vertices, f"{b} V 3", name="vertices")["V"]
    ids = list(TIP_VERTEX_SETS[tips])
    if v <= max(ids):
        raise ValueError(f"vertices: {v} vertices, but the {tips!r} set needs tip vertex "
                         f"{max(ids)}; pass MANO's 778 vertices.")
    if isinstance(joints16, torch.Tensor):
        return torch.cat([joints16, vertices[:, ids]], dim=1)
    return np.concatenate([joints16, vertices[:, ids]], axis=1)


def mirror_xyz(points):
    """Mirror 3D points left ↔ right: x → −x (camera frame). (..., 3) → (..., 3)."""
    flip = points.new_tensor([-1.0, 1.0, 1.0]) if isinstance(points, torch.Tensor) \
        else np.array([-1.0, 1.0, 1.0], dtype=points.dtype)
    return points * flip


def mirror_uv(uv, width: float):
    """Mirror pixel coordinates for a horizontally flipped image: u → width − u.

    Args:
        uv: (..., 2) pixels, handkit pixel convention (centre of column i at i + 0.5).
        width: image width in pixels.
    """
    out = uv.clone() if isinstance(uv, torch.Tensor) else uv.copy()
    out[..., 0] = width - uv[..., 0]
    return out


_PALM_PARTNERS = {"middle_mcp": 9, "index_mcp": 5}


def wrist_to_palm(keypoints, partner: Literal["middle_mcp", "index_mcp"] = "middle_mcp"):
    """Replace the wrist (joint 0) by the palm point (wrist + partner) / 2.

    RN_25D_wMLPref's released FreiHAND model puts the palm at index 0. PeCLR's test script
    (`pred_fh.py`) uses the middle MCP; its training flag `--use_palm` uses the index MCP
    (specs/pretrain.md §3.1): pick explicitly.

    Args:
        keypoints: (..., 21, C), handkit order.
    """
    check_choice(partner, _PALM_PARTNERS, name="partner")
    out = keypoints.clone() if isinstance(keypoints, torch.Tensor) else keypoints.copy()
    out[..., 0, :] = 0.5 * (keypoints[..., 0, :] + keypoints[..., _PALM_PARTNERS[partner], :])
    return out


def palm_to_wrist(keypoints, partner: Literal["middle_mcp", "index_mcp"] = "middle_mcp"):
    """Inverse of `wrist_to_palm`: wrist = 2 · palm − partner. (..., 21, C) → (..., 21, C)."""
    check_choice(partner, _PALM_PARTNERS, name="partner")
    out = keypoints.clone() if isinstance(keypoints, torch.Tensor) else keypoints.copy()
    out[..., 0, :] = 2 * keypoints[..., 0, :] - keypoints[..., _PALM_PARTNERS[partner], :]
    return out


def bone_lengths(keypoints) -> torch.Tensor:
    """Lengths of the 20 `BONES`. (..., 21, C) → (..., 20), same unit as the input."""
    kp = torch.as_tensor(keypoints)
    parents = torch.tensor([p for p, _ in BONES])
    children = torch.tensor([c for _, c in BONES])
    return (kp[..., children, :] - kp[..., parents, :]).norm(dim=-1)
