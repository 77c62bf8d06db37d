"""Scenes beyond the single FreiHAND crop: video frames, two interacting hands, 1-4 hands.

Like `scenes.freihand_scene`, each is a pure function of (seed, index, size); per-video and
per-camera quantities come from their own random streams keyed by the video/camera id, so any
frame can be made alone and is identical whoever makes it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from handkit.data.synth import appearance as app
from handkit.data.synth.poses import (random_rotation, rotation_aa, rotation_matrix, sample_angles,
                                      sample_video, video_frame)
from handkit.data.synth.scenes import (Scene, center_in_view, fit_depth, pose_hand, render_hands,
                                       rng_for)
from handkit.hand.model import Handedness

__all__ = ["FRAMES_PER_VIDEO", "VideoFrame", "video_scene", "interhand_camera", "InterCamera",
           "two_hand_scene", "multi_hand_scene", "HAND_TYPES", "MULTI_HANDS", "check_hands"]

FRAMES_PER_VIDEO = 16
"""Frames per synthetic video (videos are sampled every 30 frames, like Hand100M's extraction)."""
HAND_TYPES = ("right", "left", "interacting")

MULTI_HANDS = (2, 4)
"""The multi-hand world's default hands per image, (fewest, most): uniform over 2, 3, 4."""
_MAX_HANDS = 4  # centres 0.3·size apart in the 0.2-0.8 square: more do not fit apart

# random streams (scenes.py uses 0 for per-sample draws, writers 9 for JPEG quality)
_VIDEO, _VIDEO_BG, _CAMERA, _COUNT = 1, 2, 3, 4


@dataclass(frozen=True)
class VideoFrame:
    scene: Scene
    video: int  # video id
    frame: int  # frame index within the video, 0..FRAMES_PER_VIDEO-1


def video_scene(seed: int, index: int, size: int = 224, appearance: str = "default") -> VideoFrame:
    """Frame `index % FRAMES_PER_VIDEO` of video `index // FRAMES_PER_VIDEO`: one hand moving
    smoothly through key poses from the gesture library; identity (shape, handedness),
    appearance, background and camera are fixed per video. Frame size `size`×`size`; the hand
    spans about a quarter to a half of it, off-centre. Look: `appearance` (a DOMAINS name)."""
    dom = app.domain(appearance)
    video, frame = divmod(index, FRAMES_PER_VIDEO)
    vrng = rng_for(seed, _VIDEO, video)
    motion = sample_video(vrng)
    handedness: Handedness = "right" if vrng.uniform() < 0.5 else "left"
    shape = np.clip(vrng.normal(0, 1, 10), -2.5, 2.5)
    look = app.sample_look(vrng, dom)
    f = vrng.uniform(0.9, 1.3) * size
    K = np.array([[f, 0, size / 2], [0, f, size / 2], [0, 0, 1.0]])
    start, end = vrng.uniform(0.3, 0.7, (2, 2)) * size
    radius = vrng.uniform(0.14, 0.24) * size
    background = app.sample_background(rng_for(seed, _VIDEO_BG, video), size, size, dom)
    rng = rng_for(seed, 0, index)
    t = frame / (FRAMES_PER_VIDEO - 1)
    angles, R = video_frame(motion, t)
    hand = pose_hand(rng, angles, R, handedness, shape=shape, look=look, dom=dom)
    depth = float(np.clip(fit_depth(hand.vertices, f, radius), 0.3, 1.2))
    hands = center_in_view([hand], K, (size, size), start * (1 - t) + end * t, depth, margin=1.0)
    scene = render_hands(rng, hands, K, size, size, occluder_prob=0.2, background=background,
                         dom=dom)
    return VideoFrame(scene, video, frame)


@dataclass(frozen=True)
class InterCamera:
    """One InterHand2.6M-style camera: world → camera rotation and centre (mm), intrinsics."""

    name: str  # e.g. "400003"
    camrot: np.ndarray  # (3, 3) world → camera rotation
    campos: np.ndarray  # (3,) camera centre, world frame, millimeters
    K: np.ndarray  # (3, 3) pixels


CAMERAS_PER_CAPTURE = 4
FRAMES_PER_CAPTURE = 64


def interhand_camera(seed: int, capture: int, cam: int, width: int, height: int) -> InterCamera:
    """Camera `cam` of capture `capture` (fixed for the capture, like a calibrated rig)."""
    rng = rng_for(seed, _CAMERA, capture * CAMERAS_PER_CAPTURE + cam)
    f = rng.uniform(1.9, 2.5) * height
    c = np.array([width / 2, height / 2]) + rng.uniform(-0.02, 0.02, 2) * height
    K = np.array([[f, 0, c[0]], [0, f * rng.uniform(0.995, 1.005), c[1]], [0, 0, 1.0]])
    return InterCamera(str(400001 + cam), random_rotation(rng), rng.uniform(-800, 800, 3), K)


def two_hand_scene(seed: int, index: int, size: int = 384,
                   appearance: str = "default") -> tuple[Scene, str, int, InterCamera]:
    """An InterHand2.6M-like frame, `size` high and 0.65·`size` wide (334×512 in the real
    data): two interacting hands (60 %) or one right or left hand alone, seen by one of the
    capture's cameras. Returns (scene, hand_type, capture, camera); the scene's hands are
    ordered right first (when present). Look: `appearance` (a DOMAINS name)."""
    dom = app.domain(appearance)
    rng = rng_for(seed, 0, index)
    width, height = int(round(0.65 * size)), size
    capture = index // FRAMES_PER_CAPTURE
    camera = interhand_camera(seed, capture, int(rng.integers(CAMERAS_PER_CAPTURE)), width, height)
    u = rng.uniform()
    hand_type = "interacting" if u < 0.6 else ("right" if u < 0.8 else "left")
    R_pair = random_rotation(rng)
    shape = np.clip(rng.normal(0, 1, 10), -2.5, 2.5)
    look = app.sample_look(rng, dom)
    hands = []
    for side in ("right", "left"):
        if hand_type not in (side, "interacting"):
            continue
        # the two hands face each other across ~10 cm, each with its own small turn
        turn = rotation_matrix(rotation_aa(random_rotation(rng)) * 0.25)
        R = R_pair if side == "right" else R_pair @ np.diag([-1.0, 1.0, -1.0])
        hand = pose_hand(rng, sample_angles(rng), R @ turn, side, shape=shape, look=look,
                         dom=dom)
        offset = R_pair @ np.array([0.0, 0.0, 0.05 if side == "right" else -0.05])
        hands.append(hand.moved(offset + rng.normal(0, 0.02, 3)))
    radius = rng.uniform(0.3, 0.42) * width
    depth = float(np.clip(fit_depth(np.concatenate([h.vertices for h in hands]), camera.K[0, 0],
                                    radius), 0.3, 1.2))
    target = np.array([width, height]) / 2 + rng.uniform(-0.08, 0.08, 2) * width
    hands = center_in_view(hands, camera.K, (height, width), target, depth, margin=2.0)
    return render_hands(rng, hands, camera.K, height, width, dom=dom), hand_type, capture, camera


def check_hands(hands: int | tuple[int, int] | None) -> tuple[int, int]:
    """`multi_hand_scene`'s `hands` as (fewest, most), 1 <= fewest <= most <= 4; None is the
    default `MULTI_HANDS`. Raises ValueError naming the value otherwise."""
    if hands is None:
        return MULTI_HANDS
    pair = (hands, hands) if isinstance(hands, (int, np.integer)) else \
        tuple(hands) if isinstance(hands, (tuple, list)) else ()
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                                 for v in pair) or not 1 <= pair[0] <= pair[1] <= _MAX_HANDS:
        raise ValueError(f"hands: expected a count or a (fewest, most) range within 1-"
                         f"{_MAX_HANDS} hands per image, got {hands!r}.")
    return int(pair[0]), int(pair[1])


def multi_hand_scene(seed: int, index: int, size: int = 384, appearance: str = "default",
                     hands: int | tuple[int, int] | None = None) -> Scene:
    """Hands with random handedness, identity and pose spread over a `size`×`size` image, with
    the look of `appearance` (a DOMAINS name). `hands`: how many, a count (every image) or a
    (fewest, most) range drawn uniformly per image (`check_hands`); None: 2-4 (the default
    world, whose images do not change with this option)."""
    lo, hi = check_hands(hands)
    dom = app.domain(appearance)
    rng = rng_for(seed, 0, index)
    count = int(rng.integers(MULTI_HANDS[0], MULTI_HANDS[1] + 1))
    if (lo, hi) != MULTI_HANDS:  # its own stream: the default world's draws stay as they were
        count = int(rng_for(seed, _COUNT, index).integers(lo, hi + 1))
    f = rng.uniform(1.0, 1.4) * size
    K = np.array([[f, 0, size / 2], [0, f, size / 2], [0, 0, 1.0]])
    targets: list[np.ndarray] = []
    hands = []
    for k in range(count):
        for _ in range(20):  # spread the centres apart
            target = rng.uniform(0.2, 0.8, 2) * size
            if all(np.linalg.norm(target - t) > 0.3 * size for t in targets):
                break
        targets.append(target)
        side: Handedness = "right" if rng.uniform() < 0.5 else "left"
        hand = pose_hand(rng, sample_angles(rng), random_rotation(rng), side, dom=dom)
        radius = rng.uniform(0.1, 0.18) * size
        depth = float(np.clip(fit_depth(hand.vertices, f, radius), 0.3, 1.2))
        hands += center_in_view([hand], K, (size, size), target, depth, margin=1.0)
    return render_hands(rng, hands, K, size, size, occluder_prob=0.3, dom=dom)
