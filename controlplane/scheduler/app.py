"""The body of the scheduler process, given a way to reach the cluster.

`serve(options, access, stop)` builds the `Scheduler` for `--scheduler-name` and `--seed`, starts
the informers, and schedules — behind Lease-based leader election unless `--leader-elect=false`.
`ClusterAccess` bundles the protocol implementations; the in-memory cluster provides them in the
tests and the adapter over `kubelab.client` will provide them for real, so the process itself is
exercised before the client exists.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from controlplane.scheduler.leaderelection import ElectionConfig, LeaderElector, LeaseStore
from controlplane.scheduler.options import Options
from controlplane.scheduler.plugins import default_framework
from controlplane.scheduler.scheduler import (
    Binder,
    EventRecorder,
    PodConditionWriter,
    Scheduler,
    run_leader_elected,
)

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_LOST_LEASE = 1


@dataclass(frozen=True)
class ClusterAccess:
    binder: Binder
    recorder: EventRecorder
    conditions: PodConditionWriter
    leases: LeaseStore
    # Lists nodes and pods into the scheduler, then keeps feeding it watch events.
    start_informers: Callable[[Scheduler], None]


def serve(options: Options, access: ClusterAccess, stop: threading.Event) -> int:
    scheduler = Scheduler(
        access.binder,
        access.recorder,
        access.conditions,
        scheduler_name=options.scheduler_name,
        framework=default_framework(options.seed),
    )
    access.start_informers(scheduler)
    if not options.leader_elect:
        log.info("scheduling without leader election scheduler_name=%s", options.scheduler_name)
        worker = threading.Thread(target=scheduler.run, args=(stop,), name="scheduler")
        worker.start()
        stop.wait()
        scheduler.wake()
        worker.join()
        return EXIT_OK
    elector = LeaderElector(
        access.leases,
        ElectionConfig(
            options.identity, options.lease_duration, options.renew_deadline, options.retry_period
        ),
    )
    if run_leader_elected(scheduler, elector, stop):
        log.error("leaderelection lost identity=%s", options.identity)
        return EXIT_LOST_LEASE
    return EXIT_OK
