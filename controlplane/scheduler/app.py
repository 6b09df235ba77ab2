"""The body of the scheduler process, given a way to reach the cluster.

`serve(options, access, stop)` builds the `Scheduler` for `--scheduler-name`, `--seed` and
`--bind-workers`, starts the informers, and schedules — behind Lease-based leader election
unless `--leader-elect=false`. `ClusterAccess` bundles the protocol implementations:
`client_access` provides them over `kubelab.client` for the real process, the in-memory cluster
for the tests. Leader election is `kubelab.client.leaderelection`'s, over either.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from controlplane.scheduler.options import Options
from controlplane.scheduler.plugins import default_framework
from controlplane.scheduler.scheduler import (
    Binder,
    EventRecorder,
    PodConditionWriter,
    Scheduler,
    run_leader_elected,
)
from kubelab.client.leaderelection import LeaderElectionConfig, LeaderElector, LeaseClient

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_LOST_LEASE = 1
BIND_DRAIN_TIMEOUT = 10.0  # on the way out, bindings already posted get this long to finish


@dataclass(frozen=True)
class ClusterAccess:
    binder: Binder
    recorder: EventRecorder
    conditions: PodConditionWriter
    leases: LeaseClient
    # Lists nodes and pods into the scheduler, then keeps feeding it watch events.
    start_informers: Callable[[Scheduler], object]


@dataclass
class LeaseElector:
    """The scheduler's `Elector` over kubelab.client's `LeaderElector` (its own thread).

    Returns from `run` when `stop()` turns true (the Lease is released) or when leadership is
    lost, after calling `on_stopped_leading` — kube-scheduler exits then rather than lead
    again with possibly stale state."""

    leases: LeaseClient
    config: LeaderElectionConfig
    poll: float = 0.2
    elector: LeaderElector | None = field(default=None, init=False)

    def run(
        self,
        stop: Callable[[], bool],
        on_started_leading: Callable[[], None],
        on_stopped_leading: Callable[[], None],
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        lost = threading.Event()

        def stopped() -> None:
            # A clean stop releases the lease and "stops leading" too: that is no loss.
            if not stop():
                lost.set()
                on_stopped_leading()

        self.elector = LeaderElector(
            self.leases,
            self.config,
            on_started_leading=on_started_leading,
            on_stopped_leading=stopped,
            on_new_leader=lambda who: log.info("leader is identity=%s", who),
        )
        self.elector.start()
        try:
            while not stop() and not lost.is_set():
                sleep(self.poll)
        finally:
            self.elector.stop()


def election_config(options: Options) -> LeaderElectionConfig:
    return LeaderElectionConfig(
        name=options.lease_name,
        namespace=options.lease_namespace,
        identity=options.identity,
        lease_duration=options.lease_duration,
        renew_deadline=options.renew_deadline,
        retry_period=options.retry_period,
    )


def serve(options: Options, access: ClusterAccess, stop: threading.Event) -> int:
    """Schedule until `stop` is set (EXIT_OK) or the Lease is lost (EXIT_LOST_LEASE)."""
    scheduler = Scheduler(
        access.binder,
        access.recorder,
        access.conditions,
        scheduler_name=options.scheduler_name,
        framework=default_framework(options.seed),
        bind_workers=options.bind_workers,
    )
    try:
        access.start_informers(scheduler)
        if not options.leader_elect:
            log.info("scheduling without leader election scheduler_name=%s", options.scheduler_name)
            worker = threading.Thread(target=scheduler.run, args=(stop,), name="scheduler")
            worker.start()
            stop.wait()
            scheduler.wake()
            worker.join()
            return EXIT_OK
        elector = LeaseElector(access.leases, election_config(options))
        if run_leader_elected(scheduler, elector, stop):
            log.error("leaderelection lost identity=%s", options.identity)
            return EXIT_LOST_LEASE
        return EXIT_OK
    finally:
        scheduler.close(timeout=BIND_DRAIN_TIMEOUT)
