"""A small, fast, self-contained pool of realistic 3D hand poses in videos (tests and benchmarks).

Not the synthetic world (`handkit.data.synth`): only keypoints, no images. Each "video" is a
smooth trajectory: joint angles and the global rotation are interpolated between a few random
key poses, the hand moves slowly in front of a pinhole camera, and every frame gives the 21 true
3D joints (meters, camera frame, handkit order), their 2D projection, the detector-style box and
the Hand100M `keypoint_25d` (x, y normalised to the official 1.3x crop window). Half the videos
are left hands (the right-hand skeleton mirrored, x -> -x).

Kinematics: bone lengths from an adult template times a per-video size factor (0.85-1.15);
key poses are one of 9 grasp prototypes (open, fist, point, pinch, ...) plus 12 deg noise,
clipped to MCP flexion [-10, 90] deg, abduction [-15, 15], PIP [0, 110]; DIP = 2/3 PIP (the
usual coupling); the thumb has its own opposition [0, 70] / flexion [0, 60] ranges.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from handkit.data.formats.hand100m import CROP_SCALE

__all__ = ["ToyPool", "sample_pool"]

# Hand frame: x toward the thumb side, y along the fingers, z palm normal (back of the hand).
_MCP = np.array([[0.025, 0.088, 0.0], [0.004, 0.092, 0.0], [-0.015, 0.086, 0.0],
                 [-0.032, 0.077, 0.0]])
_FINGER_BONES = np.array([[0.040, 0.025, 0.022], [0.045, 0.028, 0.024],
                          [0.042, 0.027, 0.023], [0.033, 0.020, 0.020]])
_SPLAY = np.radians([8.0, 0.0, -7.0, -15.0])
_THUMB_CMC = np.array([0.022, 0.025, -0.008])
_THUMB_BONES = np.array([0.040, 0.032, 0.027])
_F, _W, _H = 600.0, 640, 480  # pinhole focal (px) and frame size


@dataclass
class ToyPool:
    """M hands. joints_3d (M, 21, 3) meters camera frame; uv (M, 21, 2) frame pixels;
    boxes (M, 4) frame pixels; keypoint_25d (M, 21, 3) normalised to the crop window, 3rd
    value the root-relative depth (m); is_right (M,) bool; video (M,) int64; frame (M,) int64."""

    joints_3d: np.ndarray
    uv: np.ndarray
    boxes: np.ndarray
    keypoint_25d: np.ndarray
    is_right: np.ndarray
    video: np.ndarray
    frame: np.ndarray


# Grasp prototypes (degrees): per finger (MCP flexion, abduction, PIP flexion) for index,
# middle, ring, pinky, then thumb (opposition, flexion). Real hand poses concentrate near a few
# grasps (postural synergies); key poses are a prototype plus noise.
_PROTOTYPES = np.array([
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 5],            # open, flat
    [85, 0, 100, 85, 0, 100, 85, 0, 100, 85, 0, 100, 50, 50],  # fist
    [0, 0, 0, 85, 0, 100, 85, 0, 100, 85, 0, 100, 50, 40],     # point
    [40, 0, 50, 20, 0, 30, 20, 0, 30, 20, 0, 30, 60, 30],      # pinch
    [50, 0, 60, 50, 0, 60, 50, 0, 60, 50, 0, 60, 60, 20],      # cylinder grasp
    [20, 5, 30, 25, 0, 35, 30, -5, 40, 35, -10, 45, 20, 15],   # relaxed
    [0, 10, 0, 0, -10, 0, 85, 0, 100, 85, 0, 100, 50, 50],     # V sign
    [85, 0, 100, 85, 0, 100, 85, 0, 100, 85, 0, 100, 0, 0],    # thumbs up
    [0, 12, 0, 0, 0, 0, 0, -10, 0, 0, -15, 0, 0, 0],           # spread
])
_LOW = np.array([-10, -15, 0] * 4 + [0, 0])
_HIGH = np.array([90, 15, 110] * 4 + [70, 60])


def _angles(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 14) key-pose angles, radians: a grasp prototype + 12 deg noise, within limits."""
    a = _PROTOTYPES[rng.integers(0, len(_PROTOTYPES), n)] + rng.normal(0, 12.0, (n, 14))
    return np.radians(np.clip(a, _LOW, _HIGH))


def _chain(base: np.ndarray, d: np.ndarray, bend: np.ndarray, bones: np.ndarray,
           flex: np.ndarray) -> np.ndarray:
    """(M, 4, 3): base then three joints; bone k along cos(t_k) d + sin(t_k) bend, t cumulative."""
    t = np.cumsum(flex, axis=1)  # (M, 3)
    dirs = np.cos(t)[..., None] * d[:, None] + np.sin(t)[..., None] * bend[:, None]
    steps = dirs * bones[..., None]
    return np.concatenate([base[:, None], base[:, None] + np.cumsum(steps, axis=1)], axis=1)


def _skeleton(a: np.ndarray, size: np.ndarray) -> np.ndarray:
    """(M, 14) angles, (M,) size -> (M, 21, 3) right hand in the hand frame, meters."""
    m = len(a)
    out = np.zeros((m, 21, 3))
    down = np.array([0.0, 0.0, -1.0])
    for f in range(4):
        ab = _SPLAY[f] + a[:, 3 * f + 1]
        d = np.stack([-np.sin(ab), np.cos(ab), np.zeros(m)], 1)
        flex = np.stack([a[:, 3 * f], a[:, 3 * f + 2], a[:, 3 * f + 2] * 2 / 3], 1)
        bones = np.broadcast_to(_FINGER_BONES[f], (m, 3))
        pts = _chain(np.broadcast_to(_MCP[f], (m, 3)), d, np.broadcast_to(down, (m, 3)),
                     bones, flex)
        out[:, 5 + 4 * f: 9 + 4 * f] = pts
    opp = a[:, 12]
    d = np.stack([0.8 * np.cos(opp), 0.6 * np.cos(opp), -np.sin(opp)], 1)
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    bend = np.cross(d, np.array([0.0, 0.0, 1.0]))
    bend /= np.linalg.norm(bend, axis=1, keepdims=True)
    flex = np.repeat(a[:, 13:14], 3, axis=1) * np.array([0.3, 1.0, 1.0])
    out[:, 1:5] = _chain(np.broadcast_to(_THUMB_CMC, (m, 3)), d, bend,
                         np.broadcast_to(_THUMB_BONES, (m, 3)), flex)
    return out * size[:, None, None]


def sample_pool(num_videos: int, frames: int = 30, *, keyframes: int = 4,
                seed: int = 0) -> ToyPool:
    """Sample `num_videos` smooth videos of `frames` frames each (M = num_videos * frames)."""
    rng = np.random.default_rng(seed)
    v, t = num_videos, frames
    keys = _angles(rng, v * keyframes).reshape(v, keyframes, 14)
    s = np.linspace(0, keyframes - 1, t)
    lo = np.minimum(np.floor(s).astype(int), keyframes - 2)
    w = (s - lo)[None, :, None]
    ang = (keys[:, lo] * (1 - w) + keys[:, lo + 1] * w).reshape(v * t, 14)
    size = np.repeat(rng.uniform(0.85, 1.15, v), t)
    local = _skeleton(ang, size)
    # Global rotation: slerp between random key rotations (palm toward the camera +- anything).
    rot = np.empty((v, t, 3, 3))
    key_rot = Rotation.random(v * keyframes, random_state=int(rng.integers(1 << 31)))
    for i in range(v):
        slerp = Slerp(np.arange(keyframes), key_rot[i * keyframes:(i + 1) * keyframes])
        rot[i] = slerp(s).as_matrix()
    start = np.stack([rng.uniform(-0.06, 0.06, v), rng.uniform(-0.04, 0.04, v),
                      rng.uniform(0.45, 0.8, v)], 1)
    drift = rng.normal(0, 0.001, (v, 3))
    trans = start[:, None] + drift[:, None] * np.arange(t)[None, :, None]
    joints = np.einsum("mij,mkj->mki", rot.reshape(-1, 3, 3), local) + trans.reshape(-1, 1, 3)
    is_right = np.repeat(rng.random(v) < 0.5, t)
    joints[~is_right, :, 0] *= -1.0  # left hands: mirror image of a right hand
    uv = _F * joints[..., :2] / joints[..., 2:] + np.array([_W / 2, _H / 2])
    lo_uv, hi_uv = uv.min(1), uv.max(1)
    pad = 0.05 * (hi_uv - lo_uv)
    boxes = np.concatenate([lo_uv - pad, hi_uv + pad], 1)
    kp = np.empty_like(joints)
    for i, box in enumerate(boxes):  # the official crop window (integer, clamped to the frame)
        x1, y1, x2, y2 = _window(box)
        kp[i, :, 0] = (uv[i, :, 0] - x1) / max(x2 - x1, 1)
        kp[i, :, 1] = (uv[i, :, 1] - y1) / max(y2 - y1, 1)
    kp[..., 2] = joints[..., 2] - joints[:, :1, 2]
    return ToyPool(joints_3d=joints.astype(np.float32), uv=uv.astype(np.float32),
                   boxes=boxes, keypoint_25d=kp.astype(np.float32), is_right=is_right,
                   video=np.repeat(np.arange(v), t), frame=np.tile(np.arange(t), v))


def _window(box: np.ndarray) -> tuple[int, int, int, int]:
    from handkit.data.formats.hand100m import crop_window
    return crop_window(box, CROP_SCALE, _W, _H)
