"""Hand finding: the centred fallback, blank images (MediaPipe: test_mediapipe_side.py)."""

from __future__ import annotations

import numpy as np
import pytest

from handkit.infer.detect import find_hands


def test_centre_fallback_covers_the_central_square():
    img = np.random.default_rng(0).integers(0, 255, (100, 160, 3), dtype=np.uint8)
    hands, note = find_hands(img, detector="centre")
    assert len(hands) == 1 and hands[0].source == "centre" and hands[0].score is None
    # side 0.7·min(H, W) = 70 px centred at (80, 50): with the 0.7 fill the crop is 100 px
    assert np.allclose(hands[0].box, [45, 15, 115, 85])
    assert "centred" in note


def test_blank_image_has_no_hand():
    hands, note = find_hands(np.full((30, 40, 3), 9, np.uint8))
    assert hands == [] and "blank" in note
    with pytest.raises(ValueError, match="detector"):
        find_hands(np.zeros((3, 3, 3), np.uint8) + 1, detector="yolo")
