"""Finding the hand in a person's image: MediaPipe's palm detector when installed, else a centred box.

MediaPipe is optional and never a dependency (it needs numpy < 2; see DESIGN.md): where
``import mediapipe`` works, its Hands solution (palm detector + landmark model, bundled, offline)
gives each hand's box, handedness and score. MediaPipe labels handedness *as if the image were
mirrored* (a selfie view); handkit's images are not mirrored, so its label is swapped.

Without MediaPipe, `find_hands` returns the centred square box that, cropped with the 0.7 fill,
covers the central min(H, W) square, with a note saying so: put the hand in the middle of the
picture, or pass ``--box``. The refinement pass of `infer.pipeline` then re-centres on the hand.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Literal

import numpy as np

from handkit.data.crop import centre_box
from handkit.utils.check import check_choice

__all__ = ["HandBox", "find_hands", "mediapipe_available", "DETECTORS", "NO_DETECTOR_NOTE"]

DETECTORS = ("auto", "mediapipe", "centre")
NO_DETECTOR_NOTE = ("no hand detector installed (MediaPipe not importable): using a centred "
                    "square crop; put the hand near the middle of the image or pass --box.")


@dataclass(frozen=True)
class HandBox:
    """One hand to crop.

    Attributes:
        box: (4,) float, (x0, y0, x1, y1) pixels of the image.
        handedness: "right", "left" or "unknown" (treated as right).
        score: detector confidence in [0, 1], or None (no detector).
        source: "mediapipe" or "centre".
    """

    box: np.ndarray
    handedness: Literal["right", "left", "unknown"]
    score: float | None
    source: str


def mediapipe_available() -> bool:
    """True when ``import mediapipe`` would succeed (checked without importing it)."""
    return importlib.util.find_spec("mediapipe") is not None


def _mediapipe_hands(image: np.ndarray, max_hands: int) -> list[HandBox]:
    import mediapipe as mp  # optional; see the module docstring

    h, w = image.shape[:2]
    with mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=max_hands,
                                  min_detection_confidence=0.5) as hands:
        result = hands.process(np.ascontiguousarray(image))
    found = []
    for marks, side in zip(result.multi_hand_landmarks or [], result.multi_handedness or []):
        pts = np.array([[p.x * w, p.y * h] for p in marks.landmark])
        label = side.classification[0]
        mirrored = {"Left": "right", "Right": "left"}.get(label.label, "unknown")
        found.append(HandBox(np.concatenate([pts.min(0), pts.max(0)]), mirrored,
                             float(label.score), "mediapipe"))
    return found


def find_hands(image: np.ndarray, *, detector: str = "auto", max_hands: int = 1
               ) -> tuple[list[HandBox], str]:
    """Hands to crop in an RGB image, and a note for the user ("" when nothing to say).

    Args:
        image: (H, W, 3) uint8 RGB.
        detector: "auto" (MediaPipe if importable, else the centred box), "mediapipe" (error
            if missing) or "centre".
        max_hands: at most this many hands (MediaPipe only).

    Returns:
        (hands, note). An empty list means MediaPipe saw no hand, or the image is blank.
    """
    check_choice(detector, DETECTORS, name="detector")
    if float(image.std()) < 1.0:
        return [], "no hand: the image is blank (a single colour)."
    use_mp = detector == "mediapipe" or (detector == "auto" and mediapipe_available())
    if detector == "mediapipe" and not mediapipe_available():
        raise ValueError("detector: 'mediapipe' is not installed (it needs numpy<2; install it "
                         "in its own environment) — use --detector centre.")
    if use_mp:
        hands = _mediapipe_hands(image, max_hands)
        return hands, "" if hands else "no hand found by MediaPipe."
    h, w = image.shape[:2]
    note = NO_DETECTOR_NOTE if detector == "auto" else "centred square crop (--detector centre)."
    return [HandBox(centre_box(h, w, 0.7), "unknown", None, "centre")], note
