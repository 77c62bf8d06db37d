"""OpenHand: a license-free procedural hand with the `HandModel` interface (MANO drops in later).

Rest frame (right hand, meters): wrist joint at the origin, fingers along +x, thumb towards +z,
back of the hand towards −y (the palm faces +y). Rest pose = flat hand, fingers slightly spread.

- Skeleton: the 21 handkit keypoints; bone lengths from adult anthropometric means (hand length
  wrist → middle tip ≈ 0.19 m). ``shape`` (10 coefficients, ~N(0, 1)) scales: 0 the whole hand,
  1 palm length, 2 palm width, 3 thickness (finger radii, palm depth), 4-8 finger length (thumb →
  pinky), 9 distal-vs-proximal phalanx proportion.
- Surface: 6 closed components (5 finger tubes with rounded tips + a rounded palm), each a
  surface of revolution around its bone line, ≈1.3k vertices. Tips are surface points (the apex
  of each finger), as FreiHAND's MANO tip vertices.
- Skinning: smooth weights blended across each joint over ±0.8 finger radius; palm vertices near
  the knuckles partly follow their finger. Part labels (palm + 15 segments, `PART_NAMES`) are
  the dominant weight.
- Limits: per joint, on the components of the axis-angle in the joint's anatomical frame
  (twist about the bone, abduction about the palm normal, flexion about the lateral axis);
  thumb CMC has 3 DOF. `pose_to_angles` / `angles_to_pose`, `clamp_pose`, `limit_penalty`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from handkit.hand.model import POSE_JOINTS, HandModel, aa_to_rotmat, forward_kinematics, lbs
from handkit.hand.skeleton import PARENTS
from handkit.utils.check import check_shape

__all__ = ["OpenHand", "JOINT_LIMITS", "SHAPE_SIGMAS", "angles_to_pose", "pose_to_angles",
           "clamp_pose", "limit_penalty", "joint_frames"]

# ---- anthropometry (meters, degrees for directions) -------------------------------------------
_MCP = np.array([[0.084, 0.000, 0.025], [0.086, 0.000, 0.004],
                 [0.080, 0.000, -0.015], [0.073, 0.002, -0.032]])  # index, middle, ring, pinky
_SPLAY_DEG = np.array([7.0, 1.0, -6.0, -13.0])
_PHALANX = np.array([[0.041, 0.024, 0.022], [0.045, 0.028, 0.024],
                     [0.042, 0.027, 0.023], [0.033, 0.019, 0.021]])  # proximal, middle, distal
_RADII = np.array([[0.0098, 0.0076], [0.0102, 0.0078], [0.0096, 0.0074], [0.0086, 0.0068]])
_THUMB_CMC = np.array([0.024, 0.009, 0.019])
_THUMB_DIR = np.array([0.74, 0.22, 0.64])
_THUMB_PAD = np.array([0.0, 0.62, -0.78])  # roughly where the thumb pad faces at rest
_THUMB_LEN = np.array([0.043, 0.032, 0.029])  # metacarpal, proximal, distal
_THUMB_RADII = np.array([0.0125, 0.0085])

SHAPE_SIGMAS = (0.07, 0.05, 0.05, 0.08, 0.04, 0.04, 0.04, 0.04, 0.04, 0.04)
"""Log-scale change per unit of each shape coefficient."""

_DEG = math.pi / 180
# (twist, abduction, flexion) [min, max] in radians, for MCP/PIP/DIP of the fingers and the thumb.
_FINGER_LIMITS = np.array([[[-10, 10], [-22, 22], [-25, 95]],
                           [[-4, 4], [-4, 4], [-5, 110]],
                           [[-4, 4], [-4, 4], [-10, 85]]]) * _DEG
_THUMB_LIMITS = np.array([[[-20, 25], [-40, 35], [-25, 50]],
                          [[-10, 10], [-10, 10], [-15, 60]],
                          [[-4, 4], [-4, 4], [-20, 85]]]) * _DEG
JOINT_LIMITS = torch.tensor(np.concatenate([_THUMB_LIMITS] + [_FINGER_LIMITS] * 4),
                            dtype=torch.float64)
"""(15, 3, 2) float64 radians: [min, max] of (twist, abduction, flexion) per `POSE_JOINTS` joint.
Convention: positive flexion curls towards the palm, positive abduction turns towards the pinky
(right hand), positive twist is right-handed about the bone (towards the child)."""

_N_AROUND = 10
_N_AROUND_PALM = 18


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _rest_frames() -> np.ndarray:
    """(15, 3, 3) anatomical frames, columns (bone axis a, abduction axis b, flexion axis f)."""
    frames = []
    thumb_a = _unit(_THUMB_DIR)
    thumb_p = _unit(_THUMB_PAD - thumb_a * (_THUMB_PAD @ thumb_a))
    finger_axes = [(thumb_a, thumb_p)]
    for alpha in _SPLAY_DEG * _DEG:
        finger_axes.append((np.array([math.cos(alpha), 0.0, math.sin(alpha)]), np.array([0, 1.0, 0])))
    for a, p in finger_axes:
        f = np.cross(a, p)
        frame = np.stack([a, np.cross(f, a), f], axis=1)
        frames += [frame] * 3
    return np.stack(frames)


_FRAMES = torch.tensor(_rest_frames(), dtype=torch.float64)


def joint_frames() -> Tensor:
    """(15, 3, 3) float64 anatomical frames of the `POSE_JOINTS`, right hand, rest frame."""
    return _FRAMES


def angles_to_pose(angles: Tensor) -> Tensor:
    """Anatomical angles → `finger_pose`. (..., 15, 3) (twist, abduction, flexion), radians →
    (..., 15, 3) axis-angle, rest frame (right hand; mirror with `mirror_pose` for the left)."""
    return (joint_frames().to(angles) @ angles[..., None])[..., 0]


def pose_to_angles(finger_pose: Tensor) -> Tensor:
    """Inverse of `angles_to_pose`: (..., 15, 3) axis-angle → (..., 15, 3) local components."""
    return (joint_frames().to(finger_pose).transpose(-1, -2) @ finger_pose[..., None])[..., 0]


def clamp_pose(finger_pose: Tensor) -> Tensor:
    """Clamp each joint's local (twist, abduction, flexion) into `JOINT_LIMITS`. (B, 15, 3)."""
    check_shape(finger_pose, "* 15 3", name="finger_pose")
    limits = JOINT_LIMITS.to(finger_pose)
    angles = pose_to_angles(finger_pose).clamp(limits[..., 0], limits[..., 1])
    return angles_to_pose(angles)


def limit_penalty(finger_pose: Tensor) -> Tensor:
    """Sum of squared excursions outside `JOINT_LIMITS`, radians². (..., 15, 3) → (...)."""
    check_shape(finger_pose, "* 15 3", name="finger_pose")
    limits = JOINT_LIMITS.to(finger_pose)
    angles = pose_to_angles(finger_pose)
    excess = torch.relu(limits[..., 0] - angles) + torch.relu(angles - limits[..., 1])
    return (excess ** 2).sum(dim=(-1, -2))


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _superellipse(phi: np.ndarray, e: float) -> tuple[np.ndarray, np.ndarray]:
    c, s = np.cos(phi), np.sin(phi)
    return np.sign(c) * np.abs(c) ** e, np.sign(s) * np.abs(s) ** e


def _revolve(n_rings_r: np.ndarray, n_around: int, offset: int, e: float = 1.0):
    """Faces and per-vertex (ring, angle) of a closed tube whose first/last rings are apexes."""
    rings = len(n_rings_r)
    phi = np.arange(n_around) * (2 * math.pi / n_around)
    cu, cw = _superellipse(phi, e)
    # vertex ids: apex0, then (rings-2) x n_around, then apex1
    def vid(r, j):
        return offset + 1 + (r - 1) * n_around + (j % n_around)
    last = offset + 1 + (rings - 2) * n_around
    faces = []
    for j in range(n_around):
        faces.append((offset, vid(1, j + 1), vid(1, j)))
        faces.append((last, vid(rings - 2, j), vid(rings - 2, j + 1)))
        for r in range(1, rings - 2):
            a, b, c, d = vid(r, j), vid(r, j + 1), vid(r + 1, j + 1), vid(r + 1, j)
            faces += [(a, b, d), (b, c, d)]
    return faces, cu, cw


class _Builder:
    """Builds the rest mesh at shape 0 and, per vertex, how it moves with shape."""

    def __init__(self) -> None:
        self.anchor_a: list[int] = []
        self.anchor_b: list[int] = []
        self.t: list[float] = []
        self.offset: list[np.ndarray] = []
        self.kind: list[int] = []  # 0 palm, 1 finger
        self.weights: list[np.ndarray] = []
        self.nail: list[float] = []
        self.faces: list[tuple[int, int, int]] = []

    def add(self, a, b, t, off, kind, w, nail=0.0):
        self.anchor_a.append(a), self.anchor_b.append(b), self.t.append(t)
        self.offset.append(off), self.kind.append(kind), self.weights.append(w)
        self.nail.append(nail)

    @property
    def n(self) -> int:
        return len(self.t)


def _rest_joints_np() -> np.ndarray:
    joints = np.zeros((21, 3))
    a = _unit(_THUMB_DIR)
    joints[1] = _THUMB_CMC
    for k in range(3):
        joints[2 + k] = joints[1 + k] + a * _THUMB_LEN[k]
    for f in range(4):
        alpha = _SPLAY_DEG[f] * _DEG
        d = np.array([math.cos(alpha), 0.0, math.sin(alpha)])
        base = 5 + 4 * f
        joints[base] = _MCP[f]
        for k in range(3):
            joints[base + 1 + k] = joints[base + k] + d * _PHALANX[f, k]
    return joints


def _build_finger(bld: _Builder, finger: int, joints: np.ndarray, frame: np.ndarray) -> None:
    """Finger tube along handkit joints j0..j3 (j3 = tip, the far apex)."""
    ids = [1 + 4 * finger + k for k in range(4)]
    a, p, f = frame[:, 0], frame[:, 1], frame[:, 2]
    lengths = np.linalg.norm(np.diff(joints[ids], axis=0), axis=1)
    r0, r1 = (_THUMB_RADII if finger == 0 else _RADII[finger - 1])
    total = lengths.sum()
    cum = np.concatenate([[0.0], np.cumsum(lengths)])
    # axial stations: base cap, around each joint, mid-segments, tip cap (hemispheres)
    back = 0.1 * lengths[0] if finger == 0 else 0.35 * lengths[0]
    cap = [(-back - r0 * math.sin(psi), math.cos(psi)) for psi in (1.5708, 1.2, 0.8, 0.35)]
    body = []
    for k in range(3):
        delta = 0.6 * (r0 + (r1 - r0) * cum[k] / total)
        body += [(cum[k] - delta, 1.0), (cum[k], 1.03), (cum[k] + delta, 1.0)]
        body += [(cum[k] + lengths[k] * 0.55, 0.97)]
    tip = [(total - r1 + r1 * math.sin(psi), math.cos(psi)) for psi in (0.0, 0.45, 0.9, 1.25, 1.5708)]
    stations = cap + [s for s in body if s[0] < total - r1 - 1e-4] + tip
    faces, cu, cw = _revolve(np.array(stations), _N_AROUND, bld.n)
    bld.faces += faces
    thick = 0.85  # palmar-dorsal radius / lateral radius
    for r, (x, rho) in enumerate(stations):
        radius = (r0 + (r1 - r0) * np.clip(x / total, 0, 1)) * rho
        seg = int(np.clip(np.searchsorted(cum, x, side="right") - 1, 0, 2))
        t = (x - cum[seg]) / lengths[seg]
        # weights over the 16 transforms (0 wrist, 1 + pose index)
        w = np.zeros(16)
        pose_ids = [1 + 3 * finger + k for k in range(3)]
        chain = [0] + pose_ids  # the wrist moves the part of the tube inside the palm
        blend = [1.0]
        for k in range(3):
            delta = 0.8 * (r0 + (r1 - r0) * cum[k] / total)
            blend.append(float(_smoothstep((x - cum[k] + delta) / (2 * delta))))
        blend.append(0.0)
        for k in range(4):  # joints are > 2 delta apart, so blend[k] >= blend[k + 1]
            w[chain[k]] = blend[k] - blend[k + 1]
        ring = [0] if (r == 0 or r == len(stations) - 1) else range(_N_AROUND)
        for j in ring:
            if r == 0 or r == len(stations) - 1:
                off = np.zeros(3)
                dorsal = 0.0
            else:
                off = radius * (cu[j] * f + cw[j] * thick * (-p))
                dorsal = cw[j]
            nail = float(seg == 2 and t > 0.35 and dorsal > 0.55 and x < total - 0.3 * r1)
            bld.add(ids[seg], ids[seg + 1], t, off, 1, w, nail)


def _build_palm(bld: _Builder, joints: np.ndarray) -> None:
    x0, x1 = -0.016, 0.093
    zc, half_w, half_h = -0.004, 0.042, 0.0155
    n_rings = 16
    ps = np.linspace(-math.pi / 2, math.pi / 2, n_rings)
    stations = np.stack([np.sin(ps), np.cos(ps) ** 0.6], axis=1)
    faces, cu, cw = _revolve(stations, _N_AROUND_PALM, bld.n, e=0.55)
    bld.faces += faces
    knuckles = [1 + 3 * f for f in range(5)]  # thumb CMC + the 4 MCP transforms
    knuckle_pos = joints[[2, 5, 9, 13, 17]]
    for r, (s, rho) in enumerate(stations):
        x = x0 + (x1 - x0) * (s + 1) / 2
        taper = 0.78 + 0.22 * _smoothstep((x - x0) / (x1 - x0) * 1.6)
        ring = [0] if (r == 0 or r == n_rings - 1) else range(_N_AROUND_PALM)
        for j in ring:
            if r == 0 or r == n_rings - 1:
                pos = np.array([x, 0.0, zc])
            else:
                pos = np.array([x, -half_h * rho * cw[j], zc + half_w * taper * rho * cu[j]])
            w = np.zeros(16)
            d = np.linalg.norm(knuckle_pos - pos, axis=1)
            follow = 0.5 * np.exp(-(d / 0.014) ** 2)
            w[knuckles] = follow
            w[0] = 1.0 - follow.sum()
            bld.add(0, 0, 0.0, pos, 0, w / w.sum())


def _build() -> dict[str, np.ndarray]:
    joints = _rest_joints_np()
    frames = _rest_frames()
    bld = _Builder()
    _build_palm(bld, joints)
    for finger in range(5):
        _build_finger(bld, finger, joints, frames[3 * finger])
    weights = np.stack(bld.weights)
    # part of a vertex = its dominant transform (transform 0 -> palm, 1 + k -> part 1 + k)
    return dict(joints=joints, weights=weights, parts=weights.argmax(1), faces=np.array(bld.faces),
                anchor_a=np.array(bld.anchor_a), anchor_b=np.array(bld.anchor_b),
                t=np.array(bld.t), offset=np.stack(bld.offset), kind=np.array(bld.kind),
                nail=np.array(bld.nail))


_PARENTS16 = (-1,) + tuple(0 if PARENTS[j] == 0 else POSE_JOINTS.index(PARENTS[j]) + 1
                           for j in POSE_JOINTS)


class OpenHand(HandModel):
    """License-free procedural hand (module doc), ``num_shape = 10``, ≈1.3k vertices.

    Buffers: ``faces`` (F, 3) int64 (right hand), ``parts`` (V,) int64, ``weights`` (V, 16),
    ``nail`` (V,) float in [0, 1] (nail region, for texturing), ``joints_rest`` (21, 3) meters.
    """

    num_shape = 10

    def __init__(self) -> None:
        super().__init__()
        mesh = _build()
        f32 = torch.float32
        self.register_buffer("faces", torch.as_tensor(mesh["faces"], dtype=torch.int64), persistent=False)
        self.register_buffer("parts", torch.as_tensor(mesh["parts"], dtype=torch.int64), persistent=False)
        self.register_buffer("weights", torch.as_tensor(mesh["weights"], dtype=f32), persistent=False)
        self.register_buffer("nail", torch.as_tensor(mesh["nail"], dtype=f32), persistent=False)
        self.register_buffer("joints_rest", torch.as_tensor(mesh["joints"], dtype=f32), persistent=False)
        self.register_buffer("_anchor_a", torch.as_tensor(mesh["anchor_a"]), persistent=False)
        self.register_buffer("_anchor_b", torch.as_tensor(mesh["anchor_b"]), persistent=False)
        self.register_buffer("_t", torch.as_tensor(mesh["t"], dtype=f32)[:, None], persistent=False)
        self.register_buffer("_offset", torch.as_tensor(mesh["offset"], dtype=f32), persistent=False)
        self.register_buffer("_kind", torch.as_tensor(mesh["kind"]), persistent=False)
        self.register_buffer("_sigmas", torch.tensor(SHAPE_SIGMAS, dtype=f32), persistent=False)

    @property
    def num_vertices(self) -> int:
        return int(self.parts.shape[0])

    def rest_joints(self, shape: Tensor) -> Tensor:
        """(B, 10) shape → (B, 21, 3) rest joints, meters, rest frame (right hand)."""
        s = shape * self._sigmas.to(shape)
        rest = self.joints_rest.to(shape)
        palm = torch.stack([s[:, 1].exp(), torch.ones_like(s[:, 0]), s[:, 2].exp()], dim=-1)
        fingers = rest[1:].reshape(5, 4, 3)  # thumb..pinky, base..tip
        base = fingers[None, :, 0] * palm[:, None]  # (B, 5, 3)
        seg = fingers[:, 1:] - fingers[:, :3]  # (5, 3, 3)
        prop = torch.stack([-s[:, 9], torch.zeros_like(s[:, 9]), s[:, 9]], -1).exp()  # (B, 3)
        scale = s[:, 4:9].exp()[:, :, None, None] * prop[:, None, :, None]  # (B, 5, 3, 1)
        chain = base[:, :, None] + torch.cumsum(seg * scale, dim=2)  # (B, 5, 3, 3)
        fingers = torch.cat([base[:, :, None], chain], dim=2).reshape(-1, 20, 3)
        joints = torch.cat([rest[:1].expand(s.shape[0], 1, 3), fingers], dim=1)  # export-safe
        return joints * s[:, :1, None].exp()

    def rest_vertices(self, shape: Tensor, joints: Tensor) -> Tensor:
        """(B, V, 3) rest vertices for `shape` (B, 10) and its `rest_joints` (B, 21, 3)."""
        s = shape * self._sigmas.to(shape)
        g = s[:, 0].exp()
        palm_scale = torch.stack([s[:, 1].exp(), s[:, 3].exp(), s[:, 2].exp()], -1) * g[:, None]
        finger_scale = (s[:, 3].exp() * g)[:, None].expand(-1, 3)
        scale = torch.where(self._kind[None, :, None] == 0, palm_scale[:, None], finger_scale[:, None])
        ja, jb = joints[:, self._anchor_a], joints[:, self._anchor_b]
        return ja + self._t.to(shape) * (jb - ja) + self._offset.to(shape) * scale

    def _forward_right(self, global_orient: Tensor, finger_pose: Tensor,
                       shape: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        joints_rest = self.rest_joints(shape)
        verts_rest = self.rest_vertices(shape, joints_rest)
        aa = torch.cat([global_orient[:, None], finger_pose], dim=1)
        rot = aa_to_rotmat(aa)
        ids16 = [0] + list(POSE_JOINTS)
        joints16, transforms = forward_kinematics(rot, joints_rest[:, ids16], _PARENTS16)
        tips_rest = joints_rest[:, [4, 8, 12, 16, 20]]
        tip_tf = transforms[:, [3, 6, 9, 12, 15]]  # the DIP/IP transforms carry the tips
        tips = (tip_tf[..., :3] @ tips_rest[..., None])[..., 0] + tip_tf[..., 3]
        joints21 = torch.empty_like(joints_rest)
        joints21[:, ids16] = joints16
        joints21[:, [4, 8, 12, 16, 20]] = tips
        vertices = lbs(verts_rest, self.weights.to(shape), transforms)
        return vertices, joints21, transforms[..., :3]
