"""argparse value types that refuse bad values at the command line, naming the flag.

`--batch-size 0`, `--quality 200`, `--workers -1` or `--box nan ...` fail before any work with
argparse's one-line "argument --flag: ..." message and exit status 2.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

__all__ = ["integer", "number"]


def integer(lo: int | None = None, hi: int | None = None) -> Callable[[str], int]:
    """An int in [lo, hi] (either bound may be None: unbounded)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        _check_range(value, lo, hi, text)
        return value
    parse.__name__ = "integer"  # argparse names the type in some messages
    return parse


def number(lo: float | None = None, hi: float | None = None) -> Callable[[str], float]:
    """A finite float in [lo, hi] (NaN and inf are refused)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        _check_range(value, lo, hi, text)
        return value
    parse.__name__ = "number"
    return parse


def _check_range(value: float, lo: float | None, hi: float | None, text: str) -> None:
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        bounds = (f"between {lo} and {hi}" if lo is not None and hi is not None
                  else f">= {lo}" if lo is not None else f"<= {hi}")
        raise argparse.ArgumentTypeError(f"must be {bounds}, got {text}")
