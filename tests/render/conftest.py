"""The small mesh fixture of the renderer tests (helpers: _render_cases.py)."""

import pytest
import torch

from _render_cases import screen


@pytest.fixture
def small_mesh():
    """Three faces in float64: two overlapping triangles at different depths and one apart."""
    uv = [[3.2, 2.7], [12.6, 4.1], [5.3, 12.8],  # face 0, z 0.5
          [6.1, 5.2], [14.4, 8.9], [8.7, 14.3],  # face 1, z 0.6 (behind face 0 where they overlap)
          [1.4, 13.9], [4.9, 14.6], [2.2, 15.4]]  # face 2, small
    z = torch.tensor([0.5, 0.52, 0.48, 0.6, 0.61, 0.59, 0.7, 0.7, 0.71], dtype=torch.float64)
    faces = torch.tensor([[0, 1, 2], [3, 4, 5], [6, 7, 8]])
    return screen(uv, z), faces
