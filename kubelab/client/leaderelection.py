"""Lease-based leader election (coordination.k8s.io/v1 Lease), like client-go's leaderelection.

    elector = LeaderElector(client, LeaderElectionConfig(name="kube-scheduler",
                            namespace="kube-system", identity="cp-1_4711"),
                            on_started_leading=run, on_stopped_leading=stop)
    elector.run()   # blocks; or start() for a thread, or step() once per tick

A candidate takes the Lease when it is absent, expired (renewTime + leaseDurationSeconds in the
past), released (no holder) or already its own, with a compare-and-swap on the Lease's
resourceVersion; the leader renews every `retry_period` and gives up leadership when it could not
renew for `renew_deadline`, or at once when another holder shows up. The decision of one attempt
is the pure `decide()`; the Lease to write is the pure `desired_lease()`.

It is the only leader elector of the project: the scheduler and the controller-manager use it
over a `Client`, and the tests over any `LeaseClient` (the in-memory cluster has one). Time comes
from injected clocks (wall time for the Lease's timestamps, a monotonic one for the deadline).
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Protocol

from kubelab.api.errors import AlreadyExists, ApiError, Conflict, NotFound
from kubelab.api.tables import format_micro_time, parse_time
from kubelab.api.types import Object
from kubelab.client.resources import GVR, LEASES

log = logging.getLogger(__name__)


DEFAULT_LEASE_DURATION = 15.0
DEFAULT_RENEW_DEADLINE = 10.0
DEFAULT_RETRY_PERIOD = 2.0


class LeaseClient(Protocol):
    """The three calls the elector makes; `Client` has them, and so do the tests' fakes.
    Failures are `ApiError`s: NotFound from get, AlreadyExists from create, Conflict from an
    update with a stale resourceVersion."""

    def get(self, resource: str | GVR, name: str, *, namespace: str = "") -> Object: ...

    def create(
        self,
        resource: str | GVR,
        obj: Object,
        *,
        namespace: str | None = None,
        dry_run: bool = False,
        strict: bool = False,
    ) -> Object: ...

    def update(self, resource: str | GVR, obj: Object, *, dry_run: bool = False) -> Object: ...


@dataclass(frozen=True)
class LeaderElectionConfig:
    name: str
    namespace: str
    identity: str
    lease_duration: float = DEFAULT_LEASE_DURATION
    renew_deadline: float = DEFAULT_RENEW_DEADLINE
    retry_period: float = DEFAULT_RETRY_PERIOD


class Decision(Enum):
    CREATE = "create"  # no lease: create it, holding it
    ACQUIRE = "acquire"  # expired or someone else's released lease: take it over
    RENEW = "renew"  # ours: bump renewTime
    WAIT = "wait"  # someone else holds a live lease


def decide(lease: Object | None, identity: str, now: datetime) -> Decision:
    if lease is None:
        return Decision.CREATE
    spec = lease.get("spec") or {}
    holder = spec.get("holderIdentity") or ""
    if holder == identity:
        return Decision.RENEW
    if not holder:
        return Decision.ACQUIRE
    renewed = parse_time(spec.get("renewTime")) or parse_time(spec.get("acquireTime"))
    duration = int(spec.get("leaseDurationSeconds") or 0)
    if renewed is None or renewed + timedelta(seconds=duration) < now:
        return Decision.ACQUIRE
    return Decision.WAIT


def desired_lease(
    lease: Object | None, cfg: LeaderElectionConfig, decision: Decision, now: datetime
) -> Object:
    stamp = format_micro_time(now)
    new: Object = (
        copy.deepcopy(lease)
        if lease is not None
        else {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": cfg.name, "namespace": cfg.namespace},
            "spec": {},
        }
    )
    spec = new.setdefault("spec", {})
    if decision in (Decision.CREATE, Decision.ACQUIRE):
        if decision is Decision.ACQUIRE:
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
        else:
            spec["leaseTransitions"] = 0
        spec["acquireTime"] = stamp
    spec["holderIdentity"] = cfg.identity
    spec["leaseDurationSeconds"] = int(cfg.lease_duration)
    spec["renewTime"] = stamp
    return new


class LeaderElector:
    def __init__(
        self,
        client: LeaseClient,
        config: LeaderElectionConfig,
        *,
        on_started_leading: Callable[[], None] = lambda: None,
        on_stopped_leading: Callable[[], None] = lambda: None,
        on_new_leader: Callable[[str], None] = lambda _: None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.config = config
        self.on_started_leading = on_started_leading
        self.on_stopped_leading = on_stopped_leading
        self.on_new_leader = on_new_leader
        self.clock = clock
        self.monotonic = monotonic
        self.leader = False
        self.observed_holder = ""
        self._last_renew = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def try_acquire_or_renew(self) -> bool:
        cfg = self.config
        try:
            lease: Object | None = self.client.get(LEASES, cfg.name, namespace=cfg.namespace)
        except NotFound:
            lease = None
        now = self.clock()
        decision = decide(lease, cfg.identity, now)
        holder = ((lease or {}).get("spec") or {}).get("holderIdentity") or ""
        if holder != self.observed_holder:
            self.observed_holder = holder
            if holder:
                self.on_new_leader(holder)
        if decision is Decision.WAIT:
            return False
        new = desired_lease(lease, cfg, decision, now)
        try:
            if decision is Decision.CREATE:
                self.client.create(LEASES, new, namespace=cfg.namespace)
            else:
                self.client.update(LEASES, new)
        except (Conflict, AlreadyExists):
            return False
        if self.observed_holder != cfg.identity:
            self.observed_holder = cfg.identity
            self.on_new_leader(cfg.identity)
        return True

    def _attempt(self) -> bool:
        try:
            return self.try_acquire_or_renew()
        except ApiError as exc:
            log.warning(
                "lease attempt failed lease=%s/%s err=%s",
                self.config.namespace,
                self.config.name,
                exc,
            )
            return False

    def step(self) -> bool:
        """One tick: try to acquire or renew; returns whether we lead afterwards.

        On becoming leader `on_started_leading` runs in a thread of its own (it usually runs
        for as long as we lead); a leader that sees another holder, or could not renew for
        `renew_deadline`, stops leading and `on_stopped_leading` is called."""
        cfg = self.config
        ok = self._attempt()
        now = self.monotonic()
        if ok:
            self._last_renew = now
            if not self.leader:
                self.leader = True
                log.info(
                    "became leader lease=%s/%s identity=%s", cfg.namespace, cfg.name, cfg.identity
                )
                threading.Thread(
                    target=self.on_started_leading, daemon=True, name=f"lead-{cfg.name}"
                ).start()
        elif self.leader:
            if self.observed_holder not in ("", cfg.identity):
                self._lose()  # someone else holds the Lease now: stop at once
            elif now - self._last_renew > cfg.renew_deadline:
                log.warning(
                    "failed to renew lease within deadline lease=%s/%s deadline=%ss",
                    cfg.namespace,
                    cfg.name,
                    cfg.renew_deadline,
                )
                self._lose()
        return self.leader

    def run(self) -> None:
        while not self._stop.is_set():
            self.step()
            self._stop.wait(self.config.retry_period)
        if self.leader:
            self._release()
            self._lose()

    def _lose(self) -> None:
        self.leader = False
        log.info("lost leadership lease=%s/%s", self.config.namespace, self.config.name)
        self.on_stopped_leading()

    def _release(self) -> None:
        """Give the lease up on a clean stop so another candidate takes over at once."""
        cfg = self.config
        try:
            lease = self.client.get(LEASES, cfg.name, namespace=cfg.namespace)
            if (lease.get("spec") or {}).get("holderIdentity") == cfg.identity:
                lease["spec"]["holderIdentity"] = ""
                self.client.update(LEASES, lease)
        except ApiError as exc:
            log.info("could not release lease=%s/%s err=%s", cfg.namespace, cfg.name, exc)

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.run, daemon=True, name=f"leader-{self.config.name}"
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
