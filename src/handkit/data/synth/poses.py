"""Hand poses for the synthetic world: random with finger coupling, gestures, smooth "videos".

Poses are sampled as anatomical angles (15, 3) = (twist, abduction, flexion) radians per
`POSE_JOINTS` joint (hand/openhand.py), clamped to `JOINT_LIMITS`; `angles_to_pose` turns them
into the model's axis-angle `finger_pose`. Gestures and videos draw key poses from the same
library, so similar poses recur across different videos (what similar-hand mining looks for).
"""

from __future__ import annotations

import math

import numpy as np

from handkit.hand.openhand import JOINT_LIMITS

__all__ = ["GESTURES", "gesture_angles", "grip_angles", "sample_random_angles", "sample_angles",
           "random_rotation", "rotation_aa", "rotation_matrix", "Video", "sample_video", "video_frame"]

_LIMITS = JOINT_LIMITS.numpy().astype(np.float64)
_D = math.pi / 180

# name: (finger flexions (index, middle, ring, pinky) as (MCP, PIP, DIP) degrees,
#        thumb (CMC twist, CMC abduction, CMC flexion, MCP flexion, IP flexion) degrees, spread deg)
_CLOSED, _OPEN, _HALF = (85, 100, 70), (0, 0, 0), (45, 55, 35)
_GESTURES_DEG = {
    "open_palm": ((_OPEN,) * 4, (0, 0, 0, 0, 0), 18),
    "flat": ((_OPEN,) * 4, (0, -10, 10, 5, 5), 0),
    "fist": ((_CLOSED,) * 4, (15, -30, 45, 45, 50), 0),
    "point": ((_OPEN, _CLOSED, _CLOSED, _CLOSED), (15, -30, 45, 45, 50), 0),
    "victory": ((_OPEN, _OPEN, _CLOSED, _CLOSED), (15, -30, 45, 45, 50), 15),
    "three": ((_OPEN, _OPEN, _OPEN, _CLOSED), (15, -30, 45, 45, 50), 10),
    "thumbs_up": ((_CLOSED,) * 4, (-10, 20, -15, 0, 0), 0),
    "rock": ((_OPEN, _CLOSED, _CLOSED, _OPEN), (15, -30, 45, 45, 50), 12),
    "call": ((_CLOSED, _CLOSED, _CLOSED, _OPEN), (-10, 20, -15, 0, 0), 15),
    "pinch": (((40, 55, 35), (10, 15, 10), (10, 15, 10), (10, 15, 10)), (-2, 0, 7, 60, -15), 8),
    "ok": (((45, 65, 40), _OPEN, _OPEN, _OPEN), (25, 16, 7, 30, 64), 14),
    "grasp_cylinder": ((_HALF,) * 4, (10, -20, 30, 30, 35), 4),
    "grasp_sphere": (((30, 40, 25),) * 4, (5, -15, 25, 20, 20), 16),
    "claw": (((10, 80, 60),) * 4, (5, -10, 20, 20, 40), 12),
}
GESTURES: tuple[str, ...] = tuple(_GESTURES_DEG)


def _assemble(finger_flex: np.ndarray, thumb: np.ndarray, spread: float) -> np.ndarray:
    """(4, 3) flexions, (5,) thumb angles, spread (rad) → (15, 3) (twist, abd, flex)."""
    angles = np.zeros((15, 3))
    angles[0] = thumb[:3]
    angles[1, 2], angles[2, 2] = thumb[3], thumb[4]
    for f in range(4):
        angles[3 + 3 * f: 6 + 3 * f, 2] = finger_flex[f]
        # abduction of the MCP: index towards the thumb, ring/pinky towards the ulnar side
        angles[3 + 3 * f, 1] = spread * (-1.0, -0.15, 0.6, 1.2)[f]
    return angles


def _clamp(angles: np.ndarray) -> np.ndarray:
    return np.clip(angles, _LIMITS[..., 0], _LIMITS[..., 1])


def gesture_angles(name: str, rng: np.random.Generator | None = None,
                   noise_deg: float = 6.0) -> np.ndarray:
    """A named gesture's (15, 3) angles, radians, with Gaussian noise if `rng` is given."""
    if name not in _GESTURES_DEG:
        raise ValueError(f"gesture: unknown value {name!r}; choose one of {sorted(GESTURES)}.")
    flex, thumb, spread = _GESTURES_DEG[name]
    angles = _assemble(np.array(flex, float) * _D, np.array(thumb, float) * _D, spread * _D)
    if rng is not None:
        angles = angles + rng.normal(0.0, noise_deg * _D, angles.shape) * np.array([0.3, 0.5, 1.0])
    return _clamp(angles)


def grip_angles(curl: float) -> np.ndarray:
    """(15, 3) angles of a power grip closed by `curl` (0 flat .. 1 fist): each finger's MCP,
    PIP and DIP flexed by `curl` × the fist's (85°, 100°, 70°), fingers together, the thumb
    opposed (the ``grasp_cylinder`` gesture's CMC) with its MCP and IP flexed by `curl` × (60°,
    70°). Radians, clamped to the joint limits."""
    flex = np.repeat(np.array(_CLOSED, float)[None] * _D * curl, 4, 0)
    thumb = np.array([10.0, -20.0, 30.0, 60.0 * curl, 70.0 * curl]) * _D
    return _clamp(_assemble(flex, thumb, 0.0))


def sample_random_angles(rng: np.random.Generator) -> np.ndarray:
    """Random (15, 3) angles within the limits, with finger coupling.

    Neighbouring fingers' curls are correlated (AR(1) across fingers), PIP follows the MCP's
    curl, DIP follows the PIP (≈ 2/3 of it), spread shrinks as the hand closes."""
    base = rng.uniform(-0.1, 1.0)
    e = 0.0
    flex = np.zeros((4, 3))
    for f in range(4):
        e = 0.6 * e + 0.8 * rng.normal()
        curl = np.clip(base + 0.3 * e, -0.15, 1.05)
        pip = curl * 100 * _D * rng.uniform(0.8, 1.1)
        flex[f] = (curl * 85 * _D * rng.uniform(0.7, 1.1), pip,
                   0.68 * pip + rng.normal(0, 5 * _D))
    spread = rng.uniform(-0.05, 0.35) * (1 - 0.7 * np.clip(base, 0, 1))
    lo, hi = _LIMITS[[0, 1, 2], :, 0], _LIMITS[[0, 1, 2], :, 1]
    thumb_cmc = rng.uniform(lo[0] * 0.8, hi[0] * 0.8)
    thumb = np.array([*thumb_cmc, rng.uniform(-0.1, 0.9) * hi[1, 2], rng.uniform(-0.1, 0.9) * hi[2, 2]])
    angles = _assemble(flex, thumb, spread)
    angles += rng.normal(0, 1, angles.shape) * np.array([1.5, 1.5, 3.0]) * _D
    return _clamp(angles)


def sample_angles(rng: np.random.Generator, gesture_fraction: float = 0.5) -> np.ndarray:
    """A gesture with noise (probability `gesture_fraction`) or a coupled random pose. (15, 3)."""
    if rng.uniform() < gesture_fraction:
        return gesture_angles(GESTURES[rng.integers(len(GESTURES))], rng)
    return sample_random_angles(rng)


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """Uniformly distributed rotation on SO(3), as a (3, 3) matrix."""
    q = rng.normal(size=4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def rotation_aa(R: np.ndarray) -> np.ndarray:
    """(3, 3) rotation matrix → (3,) axis-angle (log map; exact up to angles near π)."""
    cos = np.clip((np.trace(R) - 1) / 2, -1.0, 1.0)
    angle = math.acos(cos)
    vec = np.array([R[2, 1] - R[1, 2], R[0, 2] - R[2, 0], R[1, 0] - R[0, 1]])
    if angle < 1e-6:
        return vec / 2
    if angle > math.pi - 1e-4:  # axis from the symmetric part
        axis = np.sqrt(np.clip((np.diag(R) + 1) / 2, 0, None))
        k = int(np.argmax(axis))
        axis = (R[:, k] + np.eye(3)[k]) / 2
        return axis / np.linalg.norm(axis) * angle
    return vec / (2 * math.sin(angle)) * angle


def rotation_matrix(aa: np.ndarray) -> np.ndarray:
    angle = np.linalg.norm(aa)
    if angle < 1e-12:
        return np.eye(3)
    k = aa / angle
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + math.sin(angle) * K + (1 - math.cos(angle)) * K @ K


class Video:
    """One video's motion: key poses at key times and a slow global rotation."""

    def __init__(self, keys: np.ndarray, times: np.ndarray, R0: np.ndarray, spin: np.ndarray,
                 gestures: tuple[str, ...]):
        self.keys, self.times, self.R0, self.spin, self.gestures = keys, times, R0, spin, gestures


def sample_video(rng: np.random.Generator, n_keys: int = 4) -> Video:
    """Key poses (mostly gestures with noise, so poses recur across videos), key times in [0, 1],
    a uniform start orientation and a total rotation of up to 70° over the video."""
    keys, names = [], []
    for _ in range(n_keys):
        if rng.uniform() < 0.75:
            name = GESTURES[rng.integers(len(GESTURES))]
            keys.append(gesture_angles(name, rng, noise_deg=4.0))
        else:
            name = "random"
            keys.append(sample_random_angles(rng))
        names.append(name)
    times = np.linspace(0.0, 1.0, n_keys)
    axis = rng.normal(size=3)
    spin = axis / np.linalg.norm(axis) * rng.uniform(0, 70 * _D)
    return Video(np.stack(keys), times, random_rotation(rng), spin, tuple(names))


def video_frame(video: Video, t: float) -> tuple[np.ndarray, np.ndarray]:
    """Pose at time t ∈ [0, 1]: smoothstep between key poses. Returns (15, 3) angles and the
    (3, 3) global rotation R0 · exp(t · spin)."""
    t = float(np.clip(t, 0.0, 1.0))
    k = min(int(np.searchsorted(video.times, t, side="right")) - 1, len(video.times) - 2)
    span = video.times[k + 1] - video.times[k]
    s = (t - video.times[k]) / span
    s = s * s * (3 - 2 * s)
    angles = video.keys[k] * (1 - s) + video.keys[k + 1] * s
    return angles, video.R0 @ rotation_matrix(video.spin * t)
