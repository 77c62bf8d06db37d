"""The REAL MediaPipe Hands (0.10.21, in-process) on synthetic FreiHAND-layout hands.

Slow, and skipped unless mediapipe is installed (the optional extra, docs/predict.md,
"MediaPipe"). Thresholds are loose bounds around what was measured
(seed 0, 50 images: 12 found, median per-hand error 11 px, handedness right for 9 of 12 and,
mirrored, left for 6 of 10; docs/performance.md "Prediction latency"): synthetic hands look
unlike MediaPipe's training photos, so the point is the plumbing and the conventions.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from handkit.data.crop import keypoint_box
from handkit.data.formats.freihand import FreiHAND
from handkit.data.synth.runner import synthesize
from handkit.hand.skeleton import mirror_uv
from handkit.external.mediapipe import mediapipe_available, shared_hands
from handkit.infer.finders import MediaPipeFinder
from handkit.mining.detect2d import MediaPipeKeypoints

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not mediapipe_available(),
                       reason="mediapipe not installed (the optional extra, docs/predict.md)"),
]


@pytest.fixture(scope="module")
def hands(tmp_path_factory):
    """(images (50, 224, 224, 3) uint8, labels (50, 21, 2) px, 3D labels (50, 21, 3) m,
    camera frame): right hands, seed 0."""
    root = synthesize("freihand", tmp_path_factory.mktemp("mp") / "synth", 50, seed=0,
                      progress=False)
    samples = [s for split in ("training", "evaluation") for s in FreiHAND(root, split,
                                                                            masks=False)]
    return (np.stack([s.image for s in samples]),
            np.stack([s.keypoints_2d[0] for s in samples]),
            np.stack([s.keypoints_3d[0] for s in samples]))


def test_keypoints_detection_rate_and_error(hands):
    images, labels, _ = hands
    det = MediaPipeKeypoints().detect(np.arange(len(images)), images)
    assert det.found.sum() >= 6  # measured 12 of 50
    err = np.linalg.norm(det.keypoints[det.found] - labels[det.found], axis=-1).mean(1)
    assert np.median(err) < 20.0  # px of 224; measured 11.3 (a 0.5 px convention slip hides
    # in this, a W/H or normalisation slip does not)


def test_handedness_is_swapped_and_mirroring_flips_it(hands):
    images, labels, _ = hands
    worker = shared_hands()
    found = [i for i in range(len(images)) if worker.hands(images[i])]
    sides = [worker.hands(images[i])[0].handedness for i in found]
    assert sides.count("right") > 2 * sides.count("left")  # measured 9 right, 3 left
    mirrored = [worker.hands(np.ascontiguousarray(images[i, :, ::-1])) for i in found]
    sides = [m[0].handedness for m in mirrored if m]
    assert sides.count("left") > sides.count("right")  # measured 6 left, 4 right
    errs = [np.linalg.norm(m[0].keypoints - mirror_uv(labels[i], 224), axis=-1).mean()
            for i, m in zip(found, mirrored) if m]
    assert np.median(errs) < 20.0  # mirrored labels: u -> W - u


def test_non_square_image_pixels_and_find_hands_box(hands):
    images, labels, _ = hands
    worker = shared_hands()
    for i in range(len(images)):
        canvas = np.full((224, 448, 3), 128, np.uint8)
        canvas[:, 224:] = images[i]
        alone, padded = worker.hands(images[i]), worker.hands(canvas)
        if alone and padded:
            break
    else:
        pytest.fail("MediaPipe found no hand both alone and padded to 224 x 448")
    shift = padded[0].keypoints - alone[0].keypoints - np.float32([224, 0])
    assert np.median(np.linalg.norm(shift, axis=1)) < 4.0  # measured 1-2 px
    found = MediaPipeFinder().find_hands(canvas)  # the same graph as shared_hands()
    assert found[0].source == "mediapipe"
    np.testing.assert_allclose(found[0].xyxy, padded[0].box)
    assert found[0].x0 >= 224 - 10  # the hand is in the right half


def test_world_landmarks_are_in_the_cameras_axes(hands):
    """MediaPipe's 3D shape has the camera's axes (z away from the camera, as
    `infer.predict` assumes when it places it): scaled to the true size and root-aligned,
    it is closer to the true camera-frame 3D than its mirror in z or in x."""
    images, _, xyz = hands
    worker = shared_hands()
    errs = {"as given": [], "z flipped": [], "x flipped": []}
    for i in range(len(images)):
        found = worker.hands(images[i])
        if not found:
            continue
        truth = xyz[i] - xyz[i, :1]
        rel = found[0].world_m - found[0].world_m[:1]
        rel = rel * np.linalg.norm(truth, axis=1).sum() / np.linalg.norm(rel, axis=1).sum()
        for name, flip in (("as given", [1, 1, 1]), ("z flipped", [1, 1, -1]),
                           ("x flipped", [-1, 1, 1])):
            errs[name].append(np.linalg.norm(rel * flip - truth, axis=1).mean())
    assert len(errs["as given"]) >= 6
    med = {k: float(np.median(v)) for k, v in errs.items()}
    assert med["as given"] < min(med["z flipped"], med["x flipped"]), med


def test_find_in_box_finds_small_hands_the_whole_image_search_misses(hands):
    """Each found synthetic hand shrunk to 40 px (its hand ~20 px) on a 448 px canvas:
    measured, the whole-image search finds 0 of the 12 MediaPipe finds at full size and the
    box search 10, median error 9.9 px in the 224-px image's units."""
    images, labels, _ = hands
    finder = MediaPipeFinder()
    whole = inside = 0
    errs = []
    for image, uv in zip(images, labels):
        if not finder.find_hands(image):
            continue
        canvas = np.full((448, 448, 3), 120, np.uint8)
        canvas[100:140, 150:190] = cv2.resize(image, (40, 40), interpolation=cv2.INTER_AREA)
        kp = uv * (40 / 224) + [150, 100]
        whole += bool(finder.find_hands(canvas))
        found = finder.find_in_box(canvas, keypoint_box(kp))
        if found is not None:
            inside += 1
            errs.append(np.linalg.norm(found.keypoints.uv - kp, axis=1).mean() * 224 / 40)
    assert inside >= 6 and inside > whole, (inside, whole)
    assert np.median(errs) < 20.0  # 224-px units, as the full-size test above
