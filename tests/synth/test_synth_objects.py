"""Held objects and grips (the ``objects`` option, data/synth/objects.py, docs/synth.md)."""

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from handkit.data.synth import appearance as app
from handkit.data.synth.forearm import REST_WRIST_TO_MCP, hand_frame
from handkit.data.synth.multi import FRAMES_PER_VIDEO, two_hand_scene, video_scene
from handkit.data.synth.objects import KINDS, HeldObject, held_angles, object_mesh
from handkit.data.synth.poses import grip_angles, random_rotation, sample_angles
from handkit.data.synth.renderer import rasterize
from handkit.data.synth.scenes import (center_in_view, fit_depth, freihand_camera,
                                       freihand_scene, held_objects, pose_hand, render_hands)
from handkit.hand.openhand import JOINT_LIMITS

QUIET = dict(blur_prob=0.0, noise=0.0, occluder_scale=0.0)
HOLDS = dataclasses.replace(app.domain("default+objects"), held_object=1.0, **QUIET)


def _object(kind: str, half=(0.06, 0.025, 0.025)) -> HeldObject:
    half = np.full(3, half[1]) if kind == "sphere" else np.asarray(half, float)
    return HeldObject(kind, half, 0.1, np.array([0.8, 0.2, 0.2], np.float32), (100.0, 0.2))


def _held_hand(seed: int, side: str = "right", size: int = 128):
    rng = np.random.default_rng(seed)
    hand = pose_hand(rng, sample_angles(rng), random_rotation(rng), side, dom=HOLDS)
    K = freihand_camera(rng, size)
    depth = float(np.clip(fit_depth(hand.vertices, K[0, 0], 0.3 * size), 0.3, 1.2))
    return center_in_view([hand], K, (size, size), np.array([size / 2] * 2), depth, 1.0)[0], K


def test_grip_angles_follow_the_fist_scaled_by_curl():
    for curl in (0.0, 0.5, 1.0):
        a = grip_angles(curl)
        # index, middle, ring, pinky MCP/PIP/DIP flexions = curl x (85, 100, 70) degrees
        want = np.radians([85.0, 100.0, 70.0]) * curl
        lim = JOINT_LIMITS.numpy()[3:, 2]
        np.testing.assert_allclose(a[3:, 2], np.clip(np.tile(want, 4), lim[:, 0], lim[:, 1]))
        assert np.allclose(a[3:, :2], 0)  # fingers together, no twist
        np.testing.assert_allclose(a[1:3, 2], np.radians([60.0, 70.0]) * curl)
    # a thinner object closes the hand more
    thin, thick = (held_angles(_object("cylinder", (0.06, r, r)), np.zeros((15, 3)))
                   for r in (0.012, 0.04))
    assert (thin[3:, 2] > thick[3:, 2]).all()


@pytest.mark.parametrize("kind", KINDS)
def test_object_mesh_is_closed_outward_and_has_the_shapes_volume(kind):
    hand, _ = _held_hand(0)
    obj = _object(kind)
    v, f, c = object_mesh(hand.joints, obj)
    # closed: every edge is shared by two faces in opposite directions; by position, since
    # cap rims and box faces have their own vertices (sharp edges under vertex normals)
    key = np.unique(np.round(v, 9), axis=0, return_inverse=True)[1].reshape(-1)
    g = key[f]
    edges = np.concatenate([g[:, [0, 1]], g[:, [1, 2]], g[:, [2, 0]]])
    assert len(set(map(tuple, edges))) == len(edges)
    assert set(map(tuple, edges)) == set(map(tuple, edges[:, ::-1]))
    tri = v[f] - v.mean(0)
    vol = np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6
    a, b, d = obj.half_extent
    exact = {"cylinder": math.pi * b * d * 2 * a, "box": 8 * a * b * d,
             "sphere": 4 / 3 * math.pi * a ** 3}[kind]
    j = hand.joints.astype(np.float64)
    scale = np.linalg.norm(j[9] - j[0]) / REST_WRIST_TO_MCP
    # inscribed polygons lose volume: 24-gon 1.1 %, 12-band UV sphere < 6 %
    assert 0.93 * exact * scale ** 3 < vol <= exact * scale ** 3 * (1 + 1e-9)
    assert c.shape == v.shape and 0 <= c.min() and c.max() <= 1


@pytest.mark.parametrize("side", ["right", "left"])
def test_the_object_sits_on_the_palm_side_the_fingers_curl_to(side):
    for seed in range(6):
        hand, _ = _held_hand(seed, side)
        assert hand.held is not None
        v, _, _ = object_mesh(hand.joints, hand.held)
        mcp = hand.joints[[5, 9, 13, 17]].mean(0)
        tips = hand.joints[[8, 12, 16, 20]].mean(0)
        _, _, n = hand_frame(hand.joints)
        palm = n if (tips - mcp) @ n > 0 else -n
        # the object's centre is in front of the palm, by about its own depth
        offset = (v.mean(0) - mcp) @ palm
        assert offset > 0.5 * hand.held.depth


def test_objects_occlude_by_depth_hide_joints_and_are_not_hand_pixels():
    size, hidden = 128, 0
    for seed in range(8):
        hand, K = _held_hand(seed)
        bare = dataclasses.replace(hand, held=None)
        scene = render_hands(np.random.default_rng(seed), [hand], K, size, size, dom=HOLDS)
        plain = render_hands(np.random.default_rng(seed), [bare], K, size, size, dom=HOLDS)
        v, f, _ = held_objects([hand], 0)
        ro = rasterize(v, f, K, size, size)
        obj = ro.face_map >= 0
        assert obj.sum() > 20
        assert not (scene.mask & obj & ~plain.mask).any()  # object pixels never hand pixels
        both = obj & plain.mask
        hand_depth = np.where(plain.mask, plain.depth, np.inf)
        assert np.array_equal(scene.mask[both], hand_depth[both] < ro.depth[both])
        # labels stay the hand's; a joint can only lose visibility, never gain it
        assert np.array_equal(scene.hands[0].uv, plain.hands[0].uv)
        assert np.array_equal(scene.hands[0].box, plain.hands[0].box)
        assert not (scene.hands[0].visible & ~plain.hands[0].visible).any()
        hidden += int((plain.hands[0].visible & ~scene.hands[0].visible).sum())
    assert hidden > 0  # the objects do hide joints


def test_the_option_is_off_by_default_deterministic_and_keeps_the_other_hands_poses():
    held = 0
    for i in range(60):
        base = freihand_scene(5, i, 64)
        a, b = freihand_scene(5, i, 64, "default+objects"), freihand_scene(5, i, 64, "default+objects")
        assert base.hands[0].state.held is None
        assert np.array_equal(a.image, b.image)
        if a.hands[0].state.held is None:  # no object: the same pose and camera
            assert np.array_equal(a.hands[0].uv, base.hands[0].uv)
        else:
            held += 1
            assert not np.array_equal(a.hands[0].uv, base.hands[0].uv)
    # Binomial(60, 0.4): mean 24, std 3.8
    assert 10 <= held <= 38


def test_a_video_keeps_its_object_and_two_hand_scenes_decide_per_hand():
    per_video = [{None if (h := video_scene(2, v * FRAMES_PER_VIDEO + k, 96,
                                             "default+objects").scene.hands[0].state.held)
                  is None else (h.kind, float(h.half_extent[0])) for k in (0, 7, 15)}
                 for v in range(8)]
    assert all(len(kinds) == 1 for kinds in per_video)  # one look, one object per video
    assert any(kinds != {None} for kinds in per_video)
    two = [h.state.held is not None for i in range(30)
           for h in two_hand_scene(2, i, 192, "default+objects")[0].hands]
    assert 0 < sum(two) < len(two)


def test_no_transfer_option_trains_on_the_no_hand_test_photos():
    for option in app.OPTIONS.values():
        assert not set(option.get("photos", ())) & set(app.HELD_OUT_PHOTOS)
    assert not set(app.DOMAINS["transfer"].photos) & set(app.HELD_OUT_PHOTOS)
    # the "no hand" test shows exactly these photos
    src = (Path(__file__).parents[1] / "infer" / "test_finders.py").read_text()
    assert all(f"skimage.data.{name}()" in src for name in app.HELD_OUT_PHOTOS)
