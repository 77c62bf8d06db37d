import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Two pytest-xdist workers on two cores: one torch thread each, or they fight for the cores.
torch.set_num_threads(1)


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


@pytest.fixture
def blocky_image():
    """`make(h, w) -> (h, w, 3) uint8`: random colours in 4 x 4 px blocks (h, w multiples of 4),
    an image with spatial structure that finders search (pure pixel noise they refuse,
    `infer.finders.is_noise`)."""
    import numpy as np

    def make(h: int, w: int) -> "np.ndarray":
        rng = np.random.default_rng(0)
        cells = rng.integers(20, 255, (h // 4, w // 4, 3), dtype=np.uint8)
        return np.repeat(np.repeat(cells, 4, 0), 4, 1)
    return make


def _descent_step(loss_fn, params, step_norm: float | None, decrease: float | None
                  ) -> tuple[float, float]:
    """(predicted, actual) decrease of `loss_fn()` for one step along -grad, of norm `step_norm`
    or of the norm whose first-order decrease is `decrease`.

    To first order the decrease is step_norm * |grad|; the caller picks a step small enough
    that the second-order term is negligible next to it (float64: 1e-7 is plenty) and, in
    float32, large enough that the decrease stands far above the loss's round-off.
    """
    params = [p for p in params if p.requires_grad]
    before = loss_fn()
    grads = torch.autograd.grad(before, params, allow_unused=True)
    grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]
    norm = torch.sqrt(sum((g.double() ** 2).sum() for g in grads))
    assert float(norm) > 0, "the loss has no gradient"
    if step_norm is None:
        step_norm = decrease / float(norm)
    with torch.no_grad():
        for p, g in zip(params, grads):
            p -= (step_norm / norm * g).to(p.dtype)
        after = loss_fn()
    return step_norm * float(norm), float(before.detach() - after)


@pytest.fixture
def assert_descends():
    """A small step along the negative gradient lowers the loss by its first-order amount.

    Unlike "a few optimiser steps lower the loss" (which depends on the BLAS path: the
    trajectory of Adam's sign-like steps amplifies round-off), this is guaranteed: it tests that
    the gradient is the loss's true gradient and that it is non-zero. `rel` is the allowed
    relative deviation from the first-order prediction.
    """

    def check(loss_fn, params, *, step_norm: float | None = 1e-7, decrease: float | None = None,
              rel: float = 0.1) -> None:
        if decrease is not None:
            step_norm = None
        predicted, actual = _descent_step(loss_fn, list(params), step_norm, decrease)
        assert actual == pytest.approx(predicted, rel=rel), (predicted, actual)

    return check
