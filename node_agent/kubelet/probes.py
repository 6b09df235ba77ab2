"""Probe state machines: when a probe is due and what its result is after each outcome.

Pure. A `ProbeState` is advanced by `record(outcome, now)` and tells `due(now)`. The kubelet's
prober runs the handlers (exec, HTTP, TCP) and feeds the outcomes in.

Results follow Kubernetes: before the first run readiness and startup probes are Failure (not
ready, not started), a liveness probe is Success (nothing to act on); a result flips after
`failure_threshold` consecutive failures or `success_threshold` consecutive successes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

from node_agent.kubelet.spec import Probe


class ProbeKind(Enum):
    LIVENESS = "liveness"
    READINESS = "readiness"
    STARTUP = "startup"


class Result(Enum):
    SUCCESS = "Success"
    FAILURE = "Failure"


@dataclass(frozen=True)
class ProbeState:
    probe: Probe
    kind: ProbeKind
    container_started: float
    result: Result
    successes: int = 0
    failures: int = 0
    last_run: float | None = None
    last_message: str = ""

    @classmethod
    def initial(cls, probe: Probe, kind: ProbeKind, started: float) -> ProbeState:
        result = Result.SUCCESS if kind is ProbeKind.LIVENESS else Result.FAILURE
        return cls(probe=probe, kind=kind, container_started=started, result=result)

    @property
    def failed(self) -> bool:
        """The probe has failed `failure_threshold` times in a row: time to act."""
        return self.failures >= self.probe.failure_threshold

    def due(self, now: float) -> bool:
        return now >= self.next_run()

    def next_run(self) -> float:
        if self.last_run is None:
            return self.container_started + self.probe.initial_delay
        return self.last_run + self.probe.period

    def record(self, ok: bool, now: float, message: str = "") -> ProbeState:
        if ok:
            successes, failures = self.successes + 1, 0
        else:
            successes, failures = 0, self.failures + 1
        result = self.result
        if ok and successes >= self.probe.success_threshold:
            result = Result.SUCCESS
        elif not ok and failures >= self.probe.failure_threshold:
            result = Result.FAILURE
        return replace(
            self,
            result=result,
            successes=successes,
            failures=failures,
            last_run=now,
            last_message=message,
        )
