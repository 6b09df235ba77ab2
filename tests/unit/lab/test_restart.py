"""Restart policy and back-off of the supervisor."""

from __future__ import annotations

import pytest

from kubelab.lab.plan import Restart
from kubelab.lab.restart import Backoff, should_restart

POLICY = {
    "always after success": (Restart.ALWAYS, 0, True),
    "always after failure": (Restart.ALWAYS, 1, True),
    "on-failure after success": (Restart.ON_FAILURE, 0, False),
    "on-failure after failure": (Restart.ON_FAILURE, 2, True),
    "on-failure after a signal": (Restart.ON_FAILURE, -9, True),
    "never": (Restart.NEVER, 1, False),
}


@pytest.mark.parametrize(("policy", "code", "restart"), POLICY.values(), ids=POLICY.keys())
def test_should_restart(policy: Restart, code: int, restart: bool) -> None:
    assert should_restart(policy, code) is restart


def test_backoff_doubles_up_to_the_cap_and_resets_when_stable() -> None:
    b = Backoff(base=0.5, cap=4.0, stable_after=10.0)
    assert [b.delay(n) for n in range(6)] == [0.0, 0.5, 1.0, 2.0, 4.0, 4.0]
    assert b.next_streak(3, ran_for=1.0) == 4  # crash loop: longer waits
    assert b.next_streak(3, ran_for=10.0) == 1  # ran long enough: start over
