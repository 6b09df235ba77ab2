"""`wait_until`: poll a condition instead of sleeping a guessed amount of time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T],
    timeout: float = 10.0,
    *,
    interval: float = 0.05,
    message: str = "",
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Return the first truthy value of `predicate()`; raise TimeoutError after `timeout` seconds.

    An exception from the predicate counts as "not yet"; the last one is chained to the
    TimeoutError so a failing test shows why the condition never held.
    """
    deadline = clock() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = predicate()
        except Exception as exc:
            last_error = exc
        else:
            if value:
                return value
        if clock() >= deadline:
            what = message or getattr(predicate, "__name__", "condition")
            raise TimeoutError(f"{what} did not hold within {timeout}s") from last_error
        sleep(interval)
