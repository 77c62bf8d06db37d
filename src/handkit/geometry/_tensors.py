"""Private input helpers shared by geometry/ and eval/ (numpy or torch in, float tensor out)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from handkit.utils.check import as_tensor

__all__ = ["float_tensor", "per_sample"]


def float_tensor(x: Any, name: str) -> Tensor:
    """`x` as a floating tensor (ints → default dtype); tensors of a float dtype pass through."""
    t = as_tensor(x, name=name)
    return t if t.is_floating_point() else t.to(torch.get_default_dtype())


def per_sample(x: Any, batch: int, like: Tensor, name: str) -> Tensor:
    """A scalar, (B,) or (B, 1) value as a (B,) tensor on `like`'s device and dtype."""
    t = float_tensor(x, name).to(like)
    if t.ndim == 0:
        return t.expand(batch)
    if t.ndim == 2 and t.shape[1] == 1:
        t = t[:, 0]
    if t.shape != (batch,):
        raise ValueError(f"{name}: expected a scalar, ({batch},) or ({batch}, 1), "
                         f"got {tuple(t.shape)}.")
    return t
