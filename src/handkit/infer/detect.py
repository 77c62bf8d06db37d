"""Finding the hand in a person's image: MediaPipe's palm detector when set up, else a centred box.

MediaPipe is optional and never a dependency (it needs numpy < 2; see DESIGN.md). It runs in its
own venv as a subprocess (`external.mediapipe`; set-up in docs/mining.md, "MediaPipe side
venv"), found through $HANDKIT_MEDIAPIPE_PYTHON (``handkit predict --mediapipe-python`` sets it)
or, if ``import mediapipe`` works here, this interpreter. Its Hands solution (palm detector +
landmark model, bundled, offline) gives each hand's box (the landmarks' bounding box, image
pixels), handedness and score. MediaPipe labels handedness *as if the image were mirrored* (a
selfie view); handkit's images are not mirrored, so its label is swapped.

Without MediaPipe, `find_hands` returns the centred square box that, cropped with the 0.7 fill,
covers the central min(H, W) square, with a note saying so: put the hand in the middle of the
picture, or pass ``--box``. The refinement pass of `infer.pipeline` then re-centres on the hand.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

import numpy as np

from handkit.data.crop import centre_box
from handkit.utils.check import check_choice
from handkit.external.mediapipe import (MEDIAPIPE_ENV, MEDIAPIPE_SETUP, find_mediapipe_python,
                                          shared_worker)

__all__ = ["HandBox", "find_hands", "mediapipe_available", "DETECTORS", "NO_DETECTOR_NOTE"]

DETECTORS = ("auto", "mediapipe", "centre")
NO_DETECTOR_NOTE = (f"no hand detector set up (MediaPipe: set {MEDIAPIPE_ENV} or pass "
                    "--mediapipe-python): using a centred square crop; put the hand near the "
                    "middle of the image or pass --box.")


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
    """True when a MediaPipe interpreter is configured ($HANDKIT_MEDIAPIPE_PYTHON) or
    ``import mediapipe`` would work here (checked without importing or starting it)."""
    return bool(os.environ.get(MEDIAPIPE_ENV)) or find_mediapipe_python(required=False) is not None


def _mediapipe_hands(image: np.ndarray, max_hands: int, python: str | None) -> list[HandBox]:
    hands = shared_worker(python).hands(image, max_hands=max_hands, min_confidence=0.5)
    return [HandBox(hand.box, hand.handedness, hand.score, "mediapipe") for hand in hands]


def find_hands(image: np.ndarray, *, detector: str = "auto", max_hands: int = 1,
               mediapipe_python: str | os.PathLike | None = None) -> tuple[list[HandBox], str]:
    """Hands to crop in an RGB image, and a note for the user ("" when nothing to say).

    Args:
        image: (H, W, 3) uint8 RGB.
        detector: "auto" (MediaPipe if set up, see `mediapipe_available`, else the centred
            box), "mediapipe" (error if not set up) or "centre".
        max_hands: at most this many hands (MediaPipe only).
        mediapipe_python: MediaPipe's interpreter (default $HANDKIT_MEDIAPIPE_PYTHON, else this
            one if ``import mediapipe`` works); giving it makes "auto" use MediaPipe.

    Raises:
        ValueError: "mediapipe" asked for but not set up, or its worker fails (with its stderr).

    Returns:
        (hands, note). An empty list means MediaPipe saw no hand, or the image is blank.
    """
    check_choice(detector, DETECTORS, name="detector")
    if float(image.std()) < 1.0:
        return [], "no hand: the image is blank (a single colour)."
    has_mp = mediapipe_python is not None or mediapipe_available()
    if detector == "mediapipe" and not has_mp:
        raise ValueError(f"detector: 'mediapipe' is not set up — {MEDIAPIPE_SETUP} Or use "
                         "--detector centre.")
    if detector == "mediapipe" or (detector == "auto" and has_mp):
        hands = _mediapipe_hands(image, max_hands, mediapipe_python)
        return hands, "" if hands else "no hand found by MediaPipe."
    h, w = image.shape[:2]
    note = NO_DETECTOR_NOTE if detector == "auto" else "centred square crop (--detector centre)."
    return [HandBox(centre_box(h, w, 0.7), "unknown", None, "centre")], note
