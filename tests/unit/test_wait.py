from __future__ import annotations

import pytest

from tests.support import wait_until


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_returns_first_truthy_value() -> None:
    clock = FakeClock()
    values = iter([0, None, "ready"])
    assert wait_until(lambda: next(values), clock=clock, sleep=clock.sleep) == "ready"
    assert clock.now == pytest.approx(0.1)


def test_times_out_with_the_condition_named() -> None:
    clock = FakeClock()

    def port_open() -> bool:
        return False

    with pytest.raises(TimeoutError, match=r"port_open did not hold within 1.0s"):
        wait_until(port_open, timeout=1.0, clock=clock, sleep=clock.sleep)
    assert clock.now >= 1.0


def test_exceptions_mean_not_yet_and_are_chained() -> None:
    clock = FakeClock()

    def broken() -> bool:
        raise ConnectionRefusedError("nobody listens")

    with pytest.raises(TimeoutError) as info:
        wait_until(broken, timeout=0.2, clock=clock, sleep=clock.sleep)
    assert isinstance(info.value.__cause__, ConnectionRefusedError)
