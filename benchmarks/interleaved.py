"""Timing two or more ways of doing the same thing, taken in turn on the same machine at the
same time (the benchmarks print ratios of these, never assert them)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def interleaved(
    sides: dict[str, Callable[[], Any]], repeat: int, warmup: int
) -> dict[str, list[float]]:
    """Seconds of ``repeat`` calls of each side, taken in turn (the order alternating, so
    that neither side always gets the warm turn), after ``warmup`` unmeasured rounds."""
    times: dict[str, list[float]] = {name: [] for name in sides}
    names = list(sides)
    for i in range(warmup + repeat):
        for name in names if i % 2 == 0 else reversed(names):
            start = time.perf_counter()
            sides[name]()
            elapsed = time.perf_counter() - start
            if i >= warmup:
                times[name].append(elapsed)
    return times
