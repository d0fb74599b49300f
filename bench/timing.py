"""Wall-clock timing the benches share (run them from the repository root:
`python bench/bench_x.py`, which puts this folder on the import path)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def seconds_of(fn: Callable[[], object], rounds: int) -> list[float]:
    """Wall seconds of `rounds` calls of `fn`, one after the other."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def fastest(fn: Callable[[], object], rounds: int) -> float:
    """The fastest of `rounds` calls: on a shared machine other work only slows a run down."""
    return min(seconds_of(fn, rounds))


def median(fn: Callable[[], object], rounds: int) -> float:
    return statistics.median(seconds_of(fn, rounds))
