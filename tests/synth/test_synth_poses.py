import numpy as np
import pytest

from handkit.data.synth.poses import (GESTURES, rotation_matrix, gesture_angles, random_rotation,
                                      rotation_aa, sample_angles, sample_random_angles,
                                      sample_video, video_frame)
from handkit.hand.openhand import JOINT_LIMITS

LIM = JOINT_LIMITS.numpy()


def _inside(angles):
    return np.all(angles >= LIM[..., 0] - 1e-12) and np.all(angles <= LIM[..., 1] + 1e-12)


def test_sampler_respects_joint_limits():
    rng = np.random.default_rng(0)
    samples = [sample_angles(rng) for _ in range(300)]
    assert all(_inside(a) for a in samples)
    video = sample_video(rng)
    assert all(_inside(video_frame(video, t)[0]) for t in np.linspace(0, 1, 17))
    # the sampler reaches both ends of the flexion range (not a degenerate pose)
    flex = np.stack(samples)[:, 3:, 2]
    assert flex.max() > 1.2 and flex.min() < 0.05


def test_finger_coupling():
    rng = np.random.default_rng(1)
    s = np.stack([sample_random_angles(rng) for _ in range(400)])
    pip, dip = s[:, 4, 2], s[:, 5, 2]  # index PIP, DIP flexion
    assert np.corrcoef(pip, dip)[0, 1] > 0.8
    index_curl, middle_curl, pinky_curl = s[:, 4, 2], s[:, 7, 2], s[:, 13, 2]
    assert np.corrcoef(index_curl, middle_curl)[0, 1] > 0.5  # neighbours correlate
    assert np.corrcoef(index_curl, middle_curl)[0, 1] > np.corrcoef(index_curl, pinky_curl)[0, 1]


def test_gestures_hand_derived():
    fist, open_palm = gesture_angles("fist"), gesture_angles("open_palm")
    assert np.all(fist[3:, 2] > 1.0)  # every finger joint flexed more than ~57°
    assert np.allclose(open_palm[:, 2], 0.0)
    point = gesture_angles("point")
    assert np.allclose(point[3:6, 2], 0) and np.all(point[6:, 2] > 1.0)
    with pytest.raises(ValueError, match="gesture: unknown value 'wave'"):
        gesture_angles("wave")
    assert len(GESTURES) >= 8


def test_random_rotation_is_uniform_and_log_map_inverts():
    rng = np.random.default_rng(2)
    Rs = np.stack([random_rotation(rng) for _ in range(3000)])
    assert np.allclose(Rs @ Rs.transpose(0, 2, 1), np.eye(3), atol=1e-12)
    assert np.abs(Rs.mean(0)).max() < 0.05  # E[R] = 0 under the Haar measure
    for R in Rs[:50]:
        assert np.allclose(rotation_matrix(rotation_aa(R)), R, atol=1e-6)


def test_videos_are_smooth_and_poses_recur_across_videos():
    rng = np.random.default_rng(3)
    video = sample_video(rng)
    frames = [video_frame(video, t) for t in np.linspace(0, 1, 65)]
    steps = [np.abs(a[0] - b[0]).max() for a, b in zip(frames, frames[1:])]
    assert max(steps) < 0.15  # < 9° per frame at 64 frames
    assert np.allclose(frames[0][0], video.keys[0]) and np.allclose(frames[-1][0], video.keys[-1])
    # similar poses across different videos: the same gestures recur among 20 videos
    names = [g for _ in range(20) for g in sample_video(rng).gestures if g != "random"]
    assert max(names.count(g) for g in set(names)) >= 3


@pytest.mark.parametrize("name", ["ok", "pinch"])
def test_ok_and_pinch_thumb_meets_index(name):
    import torch

    from handkit.hand.openhand import OpenHand, angles_to_pose

    pose = angles_to_pose(torch.tensor(gesture_angles(name), dtype=torch.float32))[None]
    joints = OpenHand()(torch.zeros(1, 3), pose).joints[0]
    assert float((joints[4] - joints[8]).norm()) < 0.015  # thumb tip at the index tip
    open_joints = OpenHand()(torch.zeros(1, 3), torch.zeros(1, 15, 3)).joints[0]
    assert float((open_joints[4] - open_joints[8]).norm()) > 0.04
