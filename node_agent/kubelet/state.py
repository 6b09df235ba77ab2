"""What the runtime observed about a pod: its sandbox and its containers' runs. Values only."""

from __future__ import annotations

import signal
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ContainerRun:
    """One run (attempt) of a container; `attempt` counts from 0 and equals its restart count."""

    name: str
    attempt: int
    container_id: str
    started_at: float
    finished_at: float | None = None
    exit_code: int | None = None
    oom_killed: bool = False
    pid: int | None = None

    @property
    def running(self) -> bool:
        return self.finished_at is None

    @property
    def reason(self) -> str:
        if self.oom_killed:
            return "OOMKilled"
        return "Completed" if self.exit_code == 0 else "Error"

    @property
    def signal(self) -> int | None:
        code = self.exit_code
        if code is not None and code > 128 and code - 128 < signal.NSIG:
            return code - 128
        return None


@dataclass(frozen=True)
class ObservedPod:
    uid: str
    sandbox_ready: bool = False
    ip: str | None = None
    runs: Mapping[str, ContainerRun] = field(default_factory=dict)
    previous: Mapping[str, ContainerRun] = field(default_factory=dict)
