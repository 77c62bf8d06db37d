"""Input checks for public boundaries (style rule R3: never `assert`).

Every check raises `ValueError` whose message names the argument, what was expected, what was
received and, where one is known, the likely fix.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

__all__ = ["check_shape", "check_finite", "check_choice", "as_tensor"]


def _shape_of(x: Any) -> tuple[int, ...]:
    if isinstance(x, (torch.Tensor, np.ndarray)):
        return tuple(x.shape)
    raise ValueError(f"expected a torch.Tensor or numpy.ndarray, got {type(x).__name__}")


def check_shape(
    x: Any,
    pattern: str,
    *,
    name: str,
    hint: str = "",
    allow_empty: bool = False,
) -> dict[str, int]:
    """Check `x` against a shape pattern and return the sizes bound to its letters.

    Args:
        x: torch.Tensor or numpy.ndarray.
        pattern: space-separated dims. An integer must match exactly; a name (`B`, `J`) binds to
            any size and must be the same wherever it repeats; `*` at the front matches any number
            of leading dims (bound to key `"*"` as their product).
        name: the argument's name, used in the message.
        hint: appended to the message (the likely fix).
        allow_empty: accept a size-0 dim bound to a letter (an empty batch).

    Returns:
        Mapping from each letter to its size.

    Raises:
        ValueError: "joints: expected (B, 21, 3), got (8, 16, 3). <hint>"
    """
    try:
        shape = _shape_of(x)
    except ValueError as err:
        raise ValueError(f"{name}: {err}") from None
    tokens = pattern.split()
    lead = tokens[0] == "*"
    if lead:
        tokens = tokens[1:]
    expected = "(" + ", ".join((["..."] if lead else []) + tokens) + ")"
    message = f"{name}: expected {expected}, got {shape}." + (f" {hint}" if hint else "")
    if len(shape) < len(tokens) or (not lead and len(shape) != len(tokens)):
        raise ValueError(message)
    tail = shape[len(shape) - len(tokens):]
    bound: dict[str, int] = {}
    for token, size in zip(tokens, tail):
        if token.isdigit():
            if size != int(token):
                raise ValueError(message)
        elif bound.setdefault(token, size) != size:
            raise ValueError(message)
    if lead:
        # math.prod, not np.prod: it keeps a symbolic batch symbolic under torch.export
        bound["*"] = math.prod(shape[: len(shape) - len(tokens)])
    if not allow_empty and any(v == 0 for v in bound.values()):
        raise ValueError(f"{name}: got an empty batch {shape}; pass at least one item.")
    return bound


def check_finite(x: Any, *, name: str) -> None:
    """Raise `ValueError` if `x` holds NaN or ±inf, naming the first bad index.

    A no-op while `torch.export` / `torch.compile` trace (a data-dependent branch cannot be in
    a graph; exported models check nothing at run time)."""
    if isinstance(x, torch.Tensor) and torch.compiler.is_compiling():
        return
    bad = ~torch.isfinite(x) if isinstance(x, torch.Tensor) else ~np.isfinite(np.asarray(x))
    if bool(bad.any()):
        index = tuple(int(i) for i in (bad.nonzero()[0] if isinstance(bad, torch.Tensor)
                                        else np.argwhere(bad)[0]))
        raise ValueError(f"{name}: contains NaN or inf (first at index {index}).")


def check_choice(value: str, choices: Any, *, name: str) -> None:
    """Raise `ValueError` unless `value` is one of `choices` (listed sorted in the message)."""
    if value not in choices:
        raise ValueError(f"{name}: unknown value {value!r}; choose one of {sorted(choices)}.")


def as_tensor(x: Any, *, name: str, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Turn a numpy array or nested list into a tensor (no copy for tensors of the right dtype)."""
    if isinstance(x, torch.Tensor):
        return x if dtype is None else x.to(dtype)
    try:
        return torch.as_tensor(np.asarray(x), dtype=dtype)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name}: cannot be read as a numeric array ({err}).") from None
