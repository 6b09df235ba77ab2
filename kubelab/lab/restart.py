"""Restart policy of the supervisor (pure): restart or not, and after how long.

Like an init system: `always` restarts whatever the exit, `on-failure` only on a non-zero exit
or a signal, `never` reports and leaves it. The delay doubles with each restart in a row (the
kubelet's CrashLoopBackOff shape) up to a cap, and the streak resets once a process has stayed
up for `stable_after` seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubelab.lab.plan import Restart


@dataclass(frozen=True)
class Backoff:
    base: float = 0.5
    cap: float = 30.0
    stable_after: float = 10.0

    def delay(self, streak: int) -> float:
        """Seconds to wait before restart number `streak` (1 = the first restart in a row)."""
        if streak <= 0:
            return 0.0
        return float(min(self.cap, self.base * 2 ** (streak - 1)))

    def next_streak(self, streak: int, ran_for: float) -> int:
        """The streak after a process that ran `ran_for` seconds exited."""
        return 1 if ran_for >= self.stable_after else streak + 1


def should_restart(policy: Restart, returncode: int) -> bool:
    """`returncode` as Popen reports it: negative for a signal."""
    if policy is Restart.ALWAYS:
        return True
    if policy is Restart.ON_FAILURE:
        return returncode != 0
    return False
