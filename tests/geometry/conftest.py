import math

import pytest
import torch

# A plausible right hand in handkit order, meters, palm facing the camera, fingers up (−y).
_BASES = [(-0.030, -0.010), (-0.022, -0.080), (0.0, -0.085), (0.020, -0.080), (0.036, -0.070)]
_SEGMENTS = [(0.035, 0.032, 0.028), (0.040, 0.025, 0.022), (0.045, 0.028, 0.023),
             (0.042, 0.026, 0.022), (0.033, 0.020, 0.019)]


def _template() -> torch.Tensor:
    joints = [(0.0, 0.0, 0.0)]
    for f, ((x, y), segs) in enumerate(zip(_BASES, _SEGMENTS)):
        dx = -0.35 if f == 0 else 0.05 * (f - 2)  # thumb points outwards
        norm = math.hypot(dx, 1.0)
        joints.append((x, y, 0.0))
        for k, length in enumerate(segs):
            x, y = x + length * dx / norm, y - length / norm
            joints.append((x, y, -0.004 * (k + 1)))
    return torch.tensor(joints, dtype=torch.float64)


def _axis_rotation(angle: torch.Tensor, axis: int) -> torch.Tensor:
    i, j = [k for k in range(3) if k != axis]
    r = torch.eye(3, dtype=angle.dtype).repeat(angle.shape[0], 1, 1)
    r[:, i, i], r[:, i, j] = angle.cos(), -angle.sin()
    r[:, j, i], r[:, j, j] = angle.sin(), angle.cos()
    return r


def _rotation(g: torch.Generator, n: int, max_tilt: float) -> torch.Tensor:
    """Any in-plane rotation, tilts about x and y up to `max_tilt` radians."""
    u = torch.rand(n, 3, generator=g, dtype=torch.float64)
    return (_axis_rotation((2 * u[:, 0] - 1) * math.pi, 2)
            @ _axis_rotation((2 * u[:, 1] - 1) * max_tilt, 0)
            @ _axis_rotation((2 * u[:, 2] - 1) * max_tilt, 1))


def make_hands(n: int = 8, seed: int = 0, max_tilt: float = 0.6) -> torch.Tensor:
    """(n, 21, 3) float64 meters: the template, jittered, rotated, 0.4-0.8 m away.

    Tilts out of the image plane stay below `max_tilt` radians so that no scale bone points
    along the viewing ray (where the root-depth quadratic's larger root is not the true one).
    """
    g = torch.Generator().manual_seed(seed)
    base = _template() + 0.003 * torch.randn(n, 21, 3, generator=g, dtype=torch.float64)
    centred = base - base[:, 9:10]
    xyz = centred @ _rotation(g, n, max_tilt).transpose(-1, -2)
    trans = torch.stack([0.1 * torch.rand(n, generator=g, dtype=torch.float64) - 0.05,
                         0.1 * torch.rand(n, generator=g, dtype=torch.float64) - 0.05,
                         0.4 + 0.4 * torch.rand(n, generator=g, dtype=torch.float64)], -1)
    return xyz + trans[:, None, :]


@pytest.fixture
def hands():
    """hands(n, seed) -> (n, 21, 3) float64 meters (see `make_hands`)."""
    return make_hands


K_RN25D = ((388.9018310596544, 0.0, 112.0), (0.0, 388.71231836584275, 112.0), (0.0, 0.0, 1.0))


@pytest.fixture
def K224() -> torch.Tensor:
    """RN_25D_wMLPref's default K for a 224-px input (specs/pretrain.md §3.1), float64."""
    return torch.tensor(K_RN25D, dtype=torch.float64)
