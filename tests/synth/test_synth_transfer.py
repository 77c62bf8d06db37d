"""The transfer options of the synthetic world: forearm, skin detail, camera effects,
real-photo-like backgrounds (appearance.OPTIONS, docs/synth.md); held objects have their own
file (test_synth_objects.py)."""

import dataclasses
import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from handkit.data.synth import appearance as app
from handkit.data.synth.forearm import forearm_mesh, hand_frame, sample_forearm
from handkit.data.synth.multi import multi_hand_scene, video_scene
from handkit.data.synth.poses import random_rotation, sample_angles
from handkit.data.synth.renderer import rasterize
from handkit.data.synth.runner import synthesize
from handkit.data.synth.scenes import (center_in_view, fit_depth, forearms, freihand_camera,
                                       freihand_scene, pose_hand, render_hands)
from handkit.geometry.camera import project_points

QUIET = dict(blur_prob=0.0, noise=0.0, occluder_scale=0.0)  # nothing but geometry and shading


def test_looks_compose_from_one_config():
    assert app.domain("default") is app.DOMAINS["default"]
    d = app.domain("default+forearm+camera")
    assert d.forearm == app.OPTIONS["forearm"]["forearm"] and d.jpeg == app.OPTIONS["camera"]["jpeg"]
    assert d.skin_detail == 0 and d.clutter == 0 and d.skin == app.DOMAINS["default"].skin
    assert app.domain("shifted+forearm").photo_prob == 1.0  # the base's own ranges stay
    t = app.DOMAINS["transfer"]
    assert all(getattr(t, k) == v for opt in app.OPTIONS.values() for k, v in opt.items())
    d0 = app.DOMAINS["default"]
    assert d0.forearm == d0.skin_detail == d0.jpeg == d0.clutter == d0.distractors == 0
    with pytest.raises(ValueError, match="option: unknown value 'gloves'.*forearm"):
        app.domain("default+gloves")
    with pytest.raises(ValueError, match="appearance: unknown value 'night'"):
        app.domain("night+forearm")


def test_hand_free_photos_exclude_the_ones_with_hands():
    assert "camera" not in app.HAND_FREE_PHOTOS and "astronaut" not in app.HAND_FREE_PHOTOS
    for name in app.HAND_FREE_PHOTOS:  # every one is bundled (no download) and RGB
        assert app._photo(name).ndim == 3


def _posed(seed: int, side: str = "right", size: int = 128):
    rng = np.random.default_rng(seed)
    hand = pose_hand(rng, sample_angles(rng), random_rotation(rng), side)
    K = freihand_camera(rng, size)
    depth = float(np.clip(fit_depth(hand.vertices, K[0, 0], 0.3 * size), 0.3, 1.2))
    return center_in_view([hand], K, (size, size), np.array([size / 2] * 2), depth, 1.0)[0], K


def test_forearm_mesh_is_closed_and_wound_outward():
    hand, _ = _posed(0)
    rng = np.random.default_rng(1)
    for sleeve in (0.0, 1.0):
        v, f, c = forearm_mesh(hand.joints, sample_forearm(rng, sleeve), hand.look.skin)
        # closed: every edge is shared by exactly two faces, in opposite directions
        edges = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
        assert len(set(map(tuple, edges))) == len(edges)
        assert set(map(tuple, edges)) == set(map(tuple, edges[:, ::-1]))
        # outward: the signed volume (divergence theorem) is positive, about the tube's
        tri = v[f] - v.mean(0)
        vol = np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6
        assert 2e-4 < vol < 3e-3  # m³: a 0.2-0.3 m tube a few cm across
        assert c.shape == v.shape and c.min() >= 0 and c.max() <= 1


@pytest.mark.parametrize("side", ["right", "left"])
def test_forearm_pixels_touch_the_wrist_on_the_side_away_from_the_fingers(side):
    size, checked = 128, 0
    dom = dataclasses.replace(app.domain("default+forearm"), forearm=1.0)
    for seed in range(30):
        hand, K = _posed(seed, side, size)
        a, _, _ = hand_frame(hand.joints)
        if abs(a[2]) > 0.5:  # the hand points at/away from the camera: no clear 2D direction
            continue
        v, f, _, _ = forearms([hand], dom, 0)
        arm = rasterize(v, f, K, size, size).face_map >= 0
        hand_px = rasterize(hand.vertices, _faces(side), K, size, size).face_map >= 0
        assert arm.sum() > 50
        uv = project_points(hand.joints.astype(np.float64), K)
        rows, cols = np.nonzero(arm)
        px = np.stack([cols + 0.5, rows + 0.5], 1)
        # connected to the wrist: arm pixels within a few pixels of the projected wrist, and
        # hand and arm form one blob
        assert np.linalg.norm(px - uv[0], axis=1).min() < 0.06 * size
        n_blobs, _ = cv2.connectedComponents((arm | hand_px).astype(np.uint8))
        assert n_blobs - 1 == 1
        # away from the fingers: the arm's pixels lie behind the wrist along wrist -> middle MCP
        axis = (uv[9] - uv[0]) / np.linalg.norm(uv[9] - uv[0])
        assert ((px - uv[0]) @ axis).mean() < 0
        checked += 1
    assert checked >= 8


def _faces(side):
    from handkit.data.synth.scenes import _template

    faces = _template()[2]
    return faces if side == "right" else faces[:, ::-1]


def test_forearm_occludes_by_depth_and_is_not_a_hand_pixel():
    size, both_kinds = 128, set()
    dom = dataclasses.replace(app.domain("default+forearm"), forearm=1.0, **QUIET)
    for seed in range(10):
        hand, K = _posed(seed, "right", size)
        v, f, _, _ = forearms([hand], dom, 0)
        ra, rh = rasterize(v, f, K, size, size), rasterize(hand.vertices, _faces("right"), K,
                                                            size, size)
        scene = render_hands(np.random.default_rng(seed), [hand], K, size, size, dom=dom)
        plain = render_hands(np.random.default_rng(seed), [hand], K, size, size,
                             dom=dataclasses.replace(dom, forearm=0.0))
        arm, hp = ra.face_map >= 0, rh.face_map >= 0
        assert not (scene.mask & arm & ~hp).any()  # arm-only pixels are never hand pixels
        both = arm & hp
        assert np.array_equal(scene.mask[both], rh.depth[both] < ra.depth[both])
        assert np.array_equal(scene.mask[hp & ~arm], np.ones((hp & ~arm).sum(), bool))
        both_kinds |= set(np.unique(scene.mask[both]).tolist())
        # the labels are the hand's: keypoints and box unchanged by the arm
        assert np.array_equal(scene.hands[0].uv, plain.hands[0].uv)
        assert np.array_equal(scene.hands[0].box, plain.hands[0].box)
        assert not np.array_equal(scene.image, plain.image)
    assert both_kinds == {False, True}  # the arm is sometimes in front, sometimes behind


def test_every_hand_of_a_multi_hand_scene_gets_its_own_forearm():
    dom = dataclasses.replace(app.domain("default+forearm"), forearm=1.0)
    scene = multi_hand_scene(3, 0, 192, "default+forearm")
    hands = [h.state for h in scene.hands]
    v, _, _, owner = forearms(hands, dom, 0)
    assert sorted(set(owner.tolist())) == list(range(len(hands)))
    for k, h in enumerate(hands):  # each arm starts at its own hand's wrist
        assert np.linalg.norm(v[owner == k] - h.joints[0], axis=1).min() < 0.01


def test_a_video_keeps_its_forearm():
    a, b = video_scene(2, 0, 96, "default+forearm"), video_scene(2, 1, 96, "default+forearm")
    la, lb = a.scene.hands[0].state.look, b.scene.hands[0].state.look
    ra, rb = app.look_rng(la, 101, 0), app.look_rng(lb, 101, 0)
    assert ra.uniform() == rb.uniform()
    fa, fb = sample_forearm(ra, 0.5), sample_forearm(rb, 0.5)
    assert fa.length == fb.length and fa.sleeve_start == fb.sleeve_start


@pytest.mark.parametrize("look", ["default+forearm", "default+skin", "default+camera",
                                  "default+backgrounds", "transfer"])
def test_each_option_is_deterministic_and_keeps_pose_and_camera(look):
    base, a, b = freihand_scene(7, 2, 96), freihand_scene(7, 2, 96, look), \
        freihand_scene(7, 2, 96, look)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
    assert not np.array_equal(a.image, base.image)
    assert not np.array_equal(a.image, freihand_scene(8, 2, 96, look).image)
    assert np.array_equal(a.K, base.K)
    # a hand that holds an object (``objects``, in ``transfer``) takes its grip; others keep
    # the pose (tests/synth/test_synth_objects.py checks both over many samples)
    if a.hands[0].state.held is None:
        assert np.array_equal(a.hands[0].uv, base.hands[0].uv)
        assert np.array_equal(a.hands[0].box, base.hands[0].box)
    if look in ("default+skin", "default+camera"):  # looks only: every label identical
        assert np.array_equal(a.mask, base.mask) and np.array_equal(a.parts, base.parts)
        assert np.array_equal(a.hands[0].visible, base.hands[0].visible)


def test_camera_effects_never_change_labels():
    for i in range(6):
        a, b = freihand_scene(3, i, 96), freihand_scene(3, i, 96, "default+camera")
        assert np.array_equal(a.mask, b.mask) and np.array_equal(a.depth, b.depth)
        assert np.array_equal(a.hands[0].uv, b.hands[0].uv)
        assert np.array_equal(a.hands[0].visible, b.hands[0].visible)


def test_jpeg_pass_changes_bytes_deterministically_with_the_seed():
    img = np.random.default_rng(0).uniform(0, 1, (64, 64, 3)).astype(np.float32)
    img = cv2.GaussianBlur(img, (0, 0), 2)
    on = dataclasses.replace(app.DOMAINS["default"], jpeg=1.0, blur_prob=0.0)
    off = dataclasses.replace(on, jpeg=0.0)

    def finish(dom, seed):
        return app.finish_image(np.random.default_rng(seed), img, dom)

    assert np.array_equal(finish(on, 4), finish(on, 4))  # same seed, same bytes
    assert not np.array_equal(finish(on, 4), finish(off, 4))  # the pass changes them
    assert not np.array_equal(finish(on, 4), finish(on, 5))
    # it is a real JPEG round trip: re-encoding at that quality changes little
    out = finish(on, 4)
    assert np.abs(out.astype(int) - finish(off, 4).astype(int)).mean() > 0.5
    u8 = (img * 255).astype(np.uint8)
    assert np.array_equal(app.jpeg_roundtrip(u8, 30), app.jpeg_roundtrip(u8, 30))


def test_white_balance_and_motion_blur():
    img = np.full((224, 224, 3), 0.5, np.float32)
    img[:, 112:] = 0.2
    wb = dataclasses.replace(app.DOMAINS["default"], white_balance=0.1, blur_prob=0.0, noise=0.0)
    means = np.array([app.finish_image(np.random.default_rng(s), img, wb).mean((0, 1))
                      for s in range(20)])
    assert means.std(0).min() > 1.0  # per-channel gains vary between images
    k = app._motion_kernel(np.random.default_rng(0), 7.0)
    assert abs(k.sum() - 1) < 1e-5 and (k > 0).sum() >= 5
    mb = dataclasses.replace(wb, white_balance=0.0, motion_blur=1.0)
    out = app.finish_image(np.random.default_rng(1), img, mb).astype(int)
    assert len(np.unique(out[112])) > 2  # the edge is smeared (3-9 px at 224 px)


def test_backgrounds_option_keeps_the_hand_labels_and_adds_skin_coloured_shapes():
    for i in range(4):
        a, b = freihand_scene(5, i, 96), freihand_scene(5, i, 96, "default+backgrounds")
        assert np.array_equal(a.hands[0].uv, b.hands[0].uv)
    d = dataclasses.replace(app.domain("default+backgrounds"), distractors=1.0, clutter=0.0,
                            defocus=0.0, photo_prob=0.0)
    plain = dataclasses.replace(d, distractors=0.0)
    skinish = []
    for s in range(10):
        with_d = app.sample_background(np.random.default_rng(s), 96, 96, d)
        without = app.sample_background(np.random.default_rng(s), 96, 96, plain)
        changed = np.abs(with_d - without).max(2) > 0.05
        assert changed.any()
        skinish.append(with_d[changed].mean(0))
    r, g, b = np.mean(skinish, 0)
    assert r > g > b  # skin-coloured on average


def test_skin_detail_changes_only_hand_pixels():
    dom = dataclasses.replace(app.domain("default+skin"), **QUIET)
    plain = dataclasses.replace(dom, skin_detail=0.0)
    hand, K = _posed(2)
    a = render_hands(np.random.default_rng(0), [hand], K, 128, 128, dom=dom)
    b = render_hands(np.random.default_rng(0), [hand], K, 128, 128, dom=plain)
    assert np.array_equal(a.mask, b.mask)
    diff = np.abs(a.image.astype(int) - b.image.astype(int)).max(2)
    assert diff[~a.mask].max() == 0
    assert (diff[a.mask] > 2).mean() > 0.3


def test_transfer_world_is_the_same_for_any_number_of_workers(tmp_path):
    def digest(root: Path) -> str:
        h = hashlib.sha256()
        for p in sorted(root.rglob("*")):
            if p.is_file() and ".synth_work" not in p.parts:
                h.update(p.relative_to(root).as_posix().encode() + p.read_bytes())
        return h.hexdigest()

    one = synthesize("freihand", tmp_path / "a", 40, seed=3, size=64, workers=1,
                     progress=False, appearance="transfer")
    two = synthesize("freihand", tmp_path / "b", 40, seed=3, size=64, workers=2,
                     progress=False, appearance="transfer")
    assert digest(one) == digest(two)


@pytest.mark.parametrize("fmt", ["freihand", "hand100m", "interhand", "multihand"])
def test_every_layout_writes_the_transfer_world(fmt, tmp_path):
    import json

    out = synthesize(fmt, tmp_path / fmt, 3, seed=1, size=128, progress=False,
                     appearance="transfer")
    meta = json.loads((out / "meta.json").read_text())
    assert meta["complete"] and meta["args"]["appearance"] == "transfer"


def test_the_forearm_does_not_hide_its_own_wrist():
    def wrist_seen(look):
        return np.mean([freihand_scene(4, i, 96, look).hands[0].visible[0] for i in range(40)])

    assert wrist_seen("default+forearm") >= 0.8 * wrist_seen("default")
