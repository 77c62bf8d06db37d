"""Timing for benchmarks: the median of repeated calls, wall clock and process CPU."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

__all__ = ["median_time"]


def median_time(fn: Callable[[], object], repeats: int, *, warmup: int = 1
                ) -> tuple[float, float]:
    """(median wall seconds, median process-CPU seconds) of `repeats` calls of `fn`, after
    `warmup` untimed calls. On a shared machine the CPU time (all threads of this process)
    is the steadier of the two; on an idle one the wall time is what a user waits.

    Raises:
        ValueError: `repeats` < 1.
    """
    if repeats < 1:
        raise ValueError(f"repeats: expected >= 1, got {repeats}.")
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)
