"""Wall-clock timing of a piece of work: the median of several runs after a warm-up run."""

from __future__ import annotations

import statistics
import time


def median_seconds(fn, repeats: int) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs (at least one), after one warm-up run
    that pays for tracing and compiling and is not counted."""
    fn()
    times = []
    for _ in range(max(1, int(repeats))):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
