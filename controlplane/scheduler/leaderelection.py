"""Lease-based leader election: a pure state machine and a minimal elector around it.

`decide(record, identity, now, lease_duration)` is client-go's `tryAcquireOrRenew` as a function
of values: given the Lease's current record (or None when there is no Lease), it answers
ACQUIRE (write a record naming us, a new term), RENEW (we hold it: write a fresh renewTime) or
STAND_BY (someone else holds an unexpired lease). The `LeaderElector` performs the writes through
a `LeaseStore` with compare-and-swap, and gives up leadership when it could not renew for
`renew_deadline`, as client-go does (kube-scheduler then exits).

The Lease is `coordination.k8s.io/v1` `kube-system/kube-scheduler`; durations default to
Kubernetes' 15 s lease, 10 s renew deadline, 2 s retry period. The general client-side elector
over the real API belongs to `kubelab.client`; this module stays minimal.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Protocol

log = logging.getLogger(__name__)

DEFAULT_LEASE_DURATION = 15.0
DEFAULT_RENEW_DEADLINE = 10.0
DEFAULT_RETRY_PERIOD = 2.0
DEFAULT_NAMESPACE = "kube-system"
DEFAULT_NAME = "kube-scheduler"


@dataclass(frozen=True)
class LeaseRecord:
    holder_identity: str
    lease_duration_seconds: int
    acquire_time: float
    renew_time: float
    lease_transitions: int = 0

    def expired(self, now: float) -> bool:
        return self.renew_time + self.lease_duration_seconds <= now


class Action(Enum):
    ACQUIRE = "acquire"
    RENEW = "renew"
    STAND_BY = "stand-by"


@dataclass(frozen=True)
class Decision:
    action: Action
    record: LeaseRecord | None  # what to write (None when standing by)
    holder: str  # who holds the lease after this decision


def decide(
    current: LeaseRecord | None, identity: str, now: float, lease_duration: float
) -> Decision:
    seconds = max(1, round(lease_duration))
    if current is None:
        record = LeaseRecord(identity, seconds, now, now, 0)
        return Decision(Action.ACQUIRE, record, identity)
    if current.holder_identity == identity:
        record = replace(current, renew_time=now, lease_duration_seconds=seconds)
        return Decision(Action.RENEW, record, identity)
    if current.holder_identity and not current.expired(now):
        return Decision(Action.STAND_BY, None, current.holder_identity)
    record = LeaseRecord(identity, seconds, now, now, current.lease_transitions + 1)
    return Decision(Action.ACQUIRE, record, identity)


# Lease objects ------------------------------------------------------------------------------
def _micro_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(text: str | None) -> float:
    if not text:
        return 0.0
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def to_lease_spec(record: LeaseRecord) -> dict[str, Any]:
    """The `spec` of a coordination.k8s.io/v1 Lease (times as RFC 3339 MicroTime)."""
    return {
        "holderIdentity": record.holder_identity,
        "leaseDurationSeconds": record.lease_duration_seconds,
        "acquireTime": _micro_time(record.acquire_time),
        "renewTime": _micro_time(record.renew_time),
        "leaseTransitions": record.lease_transitions,
    }


def from_lease_spec(spec: dict[str, Any]) -> LeaseRecord:
    return LeaseRecord(
        holder_identity=str(spec.get("holderIdentity") or ""),
        lease_duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
        acquire_time=_parse_time(spec.get("acquireTime")),
        renew_time=_parse_time(spec.get("renewTime")),
        lease_transitions=int(spec.get("leaseTransitions") or 0),
    )


# the elector --------------------------------------------------------------------------------
class LeaseStore(Protocol):
    def get(self) -> tuple[LeaseRecord, str] | None:
        """The record and its resourceVersion, or None when there is no Lease."""
        ...

    def create(self, record: LeaseRecord) -> bool:
        """False when someone created it first."""
        ...

    def update(self, record: LeaseRecord, resource_version: str) -> bool:
        """False on a resourceVersion conflict."""
        ...


@dataclass(frozen=True)
class ElectionConfig:
    identity: str
    lease_duration: float = DEFAULT_LEASE_DURATION
    renew_deadline: float = DEFAULT_RENEW_DEADLINE
    retry_period: float = DEFAULT_RETRY_PERIOD


class LeaderElector:
    def __init__(
        self,
        store: LeaseStore,
        config: ElectionConfig,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.leading = False
        self.holder = ""
        self._last_renew = 0.0

    def try_acquire_or_renew(self) -> bool:
        """One attempt; True when we hold the lease afterwards."""
        now = self.clock()
        try:
            current = self.store.get()
        except Exception:
            log.exception("cannot read lease identity=%s", self.config.identity)
            return False
        decision = decide(
            current[0] if current else None, self.config.identity, now, self.config.lease_duration
        )
        self.holder = decision.holder
        if decision.record is None:
            return False
        try:
            ok = (
                self.store.update(decision.record, current[1])
                if current
                else self.store.create(decision.record)
            )
        except Exception:
            log.exception("cannot write lease identity=%s", self.config.identity)
            return False
        if ok:
            self._last_renew = now
            if decision.action is Action.ACQUIRE:
                log.info(
                    "acquired lease identity=%s transitions=%d",
                    self.config.identity,
                    decision.record.lease_transitions,
                )
        return ok

    def step(self) -> bool:
        """One tick of the loop: returns whether we lead after it (loses the lead when the
        renew deadline passed without a successful renewal)."""
        ok = self.try_acquire_or_renew()
        if ok:
            self.leading = True
        elif self.leading and self.clock() - self._last_renew >= self.config.renew_deadline:
            log.warning("failed to renew lease within deadline identity=%s", self.config.identity)
            self.leading = False
        return self.leading

    def run(
        self,
        stop: Callable[[], bool],
        on_started_leading: Callable[[], None],
        on_stopped_leading: Callable[[], None],
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        was_leading = False
        while not stop():
            leading = self.step()
            if leading and not was_leading:
                on_started_leading()
            if was_leading and not leading:
                on_stopped_leading()
                return
            was_leading = leading
            sleep(self.config.retry_period)


class MemoryLeaseStore:
    """A LeaseStore in memory with resourceVersion compare-and-swap (tests, in-memory runs)."""

    def __init__(self) -> None:
        self.record: LeaseRecord | None = None
        self.version = 0
        self.fail = False

    def get(self) -> tuple[LeaseRecord, str] | None:
        if self.fail:
            raise ConnectionError("lease store unavailable")
        return None if self.record is None else (self.record, str(self.version))

    def create(self, record: LeaseRecord) -> bool:
        if self.fail:
            raise ConnectionError("lease store unavailable")
        if self.record is not None:
            return False
        self.record, self.version = record, self.version + 1
        return True

    def update(self, record: LeaseRecord, resource_version: str) -> bool:
        if self.fail:
            raise ConnectionError("lease store unavailable")
        if str(self.version) != resource_version:
            return False
        self.record, self.version = record, self.version + 1
        return True
