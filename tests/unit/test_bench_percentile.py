"""The benchmarks' percentile (bench/ is scripts, not a package: loaded from its file)."""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[2] / "bench" / "percentile.py"


def load() -> Callable[[Iterable[float], float], float]:
    spec = importlib.util.spec_from_file_location("bench_percentile", PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fn: Callable[[Iterable[float], float], float] = module.percentile
    return fn


@pytest.mark.parametrize(
    ("n", "q", "expected"),
    [
        (100, 0.99, 99),  # the 99th smallest, not the largest
        (100, 0.5, 50),
        (100, 1.0, 100),
        (10, 0.99, 10),
        (10, 0.5, 5),
        (1, 0.99, 1),
        (3, 0.01, 1),
        (100, 0.29, 29),  # 0.29 * 100 is 28.999999999999996 in floating point
        (1000, 0.999, 999),
    ],
)
def test_nearest_rank(n: int, q: float, expected: int) -> None:
    percentile = load()
    values = [float(v) for v in range(n, 0, -1)]  # unsorted on purpose
    assert percentile(values, q) == expected


def test_no_samples_is_nan() -> None:
    assert math.isnan(load()([], 0.99))
