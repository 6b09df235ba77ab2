"""Percentiles for the benchmarks, by nearest rank (as most load tools report them)."""

from __future__ import annotations

import math
from collections.abc import Iterable


def percentile(values: Iterable[float], q: float) -> float:
    """The smallest value with at least a fraction `q` (0 < q <= 1) of `values` at or below
    it: of 100 samples, p99 is the 99th smallest and p50 the 50th; NaN for no samples."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = math.ceil(q * len(ordered) - 1e-9)  # q * n may be 99.00000000000001
    return ordered[min(max(rank, 1), len(ordered)) - 1]
