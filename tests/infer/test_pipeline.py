"""The two-pass crop pipeline: the second box never collapses below a quarter of the first."""

from __future__ import annotations

import numpy as np

from handkit.infer.pipeline import _at_least


def test_second_box_has_a_floor():
    first = np.array([0.0, 0.0, 100.0, 80.0])
    assert np.allclose(_at_least(np.array([40.0, 40, 42, 41]), first), [28.5, 28, 53.5, 53])
    big = np.array([10.0, 10, 60, 50])
    assert np.array_equal(_at_least(big, first), big)
