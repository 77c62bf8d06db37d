import numpy as np
import pytest
from scipy.spatial import cKDTree

from handkit.data.synth.scenes import freihand_scene, hand_model
from handkit.geometry.camera import project


@pytest.mark.parametrize("index", range(6))
def test_freihand_labels_agree_with_pixels(index):
    size = 96
    scene = freihand_scene(seed=5, index=index, size=size)
    hand = scene.hands[0]
    xyz, K = hand.state.joints.astype(np.float64), scene.K
    # projecting the 3D keypoints with K gives the 2D keypoints
    assert np.abs(project(xyz, K).numpy() - hand.uv).max() <= 0.5
    # visible joints lie on the hand mask (at the pixel containing them)
    vis = hand.visible
    cols, rows = np.floor(hand.uv[vis]).astype(int).T
    assert np.all(scene.mask[rows, cols])
    # the mask is the union of the part segmentation
    assert np.array_equal(scene.mask, scene.parts > 0)
    assert np.array_equal(scene.mask, scene.instance == 0)
    # the whole hand projects inside the crop, and the mask lies inside its projected box
    uv_verts = project(hand.state.vertices.astype(np.float64), K).numpy()
    assert uv_verts.min() >= 0 and uv_verts.max() <= size
    r, c = np.nonzero(scene.mask)
    x1, y1, x2, y2 = hand.box
    assert c.min() + 0.5 >= x1 and c.max() + 0.5 <= x2 and r.min() + 0.5 >= y1 and r.max() + 0.5 <= y2
    # every hand pixel back-projects (pixel centre, depth) onto the hand surface
    z = scene.depth[r, c]
    pts = np.stack([(c + 0.5 - K[0, 2]) / K[0, 0] * z, (r + 0.5 - K[1, 2]) / K[1, 1] * z, z], 1)
    dist, _ = cKDTree(hand.state.vertices).query(pts)
    v, f = hand.state.vertices, hand_model().faces.numpy()
    longest = max(np.linalg.norm(v[f[:, i]] - v[f[:, (i + 1) % 3]], axis=1).max() for i in range(3))
    assert dist.max() < longest / np.sqrt(3) + 1e-4  # a point of a triangle is this close to a corner
    assert scene.image.shape == (size, size, 3) and scene.image.dtype == np.uint8


def test_scene_is_a_function_of_seed_and_index():
    a, b = freihand_scene(1, 7, 64), freihand_scene(1, 7, 64)
    assert np.array_equal(a.image, b.image)
    assert not np.array_equal(a.image, freihand_scene(1, 8, 64).image)


def test_some_joints_are_truly_hidden():
    hidden = sum(int((~freihand_scene(2, i, 64).hands[0].visible).sum()) for i in range(10))
    assert hidden > 0


@pytest.mark.parametrize("kind", ["two", "multi", "video"])
def test_multi_hand_scenes_label_each_hand(kind):
    from handkit.data.synth.multi import multi_hand_scene, two_hand_scene, video_scene

    for index in range(3):
        if kind == "two":
            scene, hand_type, _, cam = two_hand_scene(3, index, 160)
            assert len(scene.hands) == (2 if hand_type == "interacting" else 1)
            assert np.allclose(scene.K, cam.K)
        elif kind == "multi":
            scene = multi_hand_scene(3, index, 128)
            assert 2 <= len(scene.hands) <= 4
        else:
            scene = video_scene(3, index, 128).scene
        assert np.array_equal(scene.mask, scene.parts > 0)
        h, w = scene.mask.shape
        for k, hand in enumerate(scene.hands):
            uv = project(hand.state.joints.astype(np.float64), scene.K).numpy()
            assert np.abs(uv - hand.uv).max() <= 0.5
            cols, rows = np.floor(hand.uv[hand.visible]).astype(int).T
            assert np.all(scene.instance[rows, cols] == k)
            x1, y1, x2, y2 = hand.box
            assert x1 >= 0 and y1 >= 0 and x2 <= w and y2 <= h  # placed inside the frame


def test_video_frames_share_identity_and_background():
    from handkit.data.synth.multi import video_scene

    a, b, c = video_scene(8, 0, 128), video_scene(8, 1, 128), video_scene(8, 16, 128)
    assert a.video == b.video != c.video and (a.frame, b.frame, c.frame) == (0, 1, 0)
    sa, sb = a.scene.hands[0].state, b.scene.hands[0].state
    assert np.array_equal(sa.shape, sb.shape) and sa.handedness == sb.handedness
    assert np.array_equal(sa.colors, sb.colors)
    # consecutive frames move a little, not a lot
    assert 0 < np.abs(sa.joints - sb.joints).max() < 0.1


@pytest.mark.parametrize("hands", [1, 2, 3, 4])
def test_multi_hand_scene_draws_the_asked_count(hands):
    from handkit.data.synth.multi import multi_hand_scene

    for index in range(2):
        scene = multi_hand_scene(11, index, 128, hands=hands)
        assert len(scene.hands) == hands
        # every hand is drawn (its own visible pixels) and no other instance is
        assert set(np.unique(scene.instance)) <= set(range(-1, hands))
        assert all(h.pixels > 0 and (scene.instance == k).sum() == h.pixels
                   for k, h in enumerate(scene.hands))


def test_multi_hand_scene_range_and_default():
    from handkit.data.synth.multi import MULTI_HANDS, multi_hand_scene

    counts = {len(multi_hand_scene(2, i, 128, hands=(1, 2)).hands) for i in range(8)}
    assert counts == {1, 2}
    # the default world is unchanged by the option: None and the default range are one world
    for index in range(2):
        a = multi_hand_scene(2, index, 128)
        b = multi_hand_scene(2, index, 128, hands=MULTI_HANDS)
        assert np.array_equal(a.image, b.image) and 2 <= len(a.hands) <= 4


@pytest.mark.parametrize("bad", [0, 5, (3, 2), (0, 2), (1, 5), "2", True, (1, 2, 3), 2.0])
def test_multi_hand_scene_refuses_bad_counts(bad):
    from handkit.data.synth.multi import multi_hand_scene

    with pytest.raises(ValueError, match="hands: expected a count or a"):
        multi_hand_scene(0, 0, 128, hands=bad)
