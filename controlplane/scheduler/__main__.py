"""`python -m controlplane.scheduler`: the kube-scheduler process.

It parses kube-scheduler's flags, configures logging, and then needs an API client to list and
watch nodes and pods, post bindings and events, and hold the Lease. kubelab's gRPC client
(`kubelab.client`) does not exist yet, so the process stops there with a clear message and exit
status 1 instead of pretending to schedule. The scheduling core it would run (`Scheduler`,
`LeaderElector`, and `app.serve`, the process body) is complete and tested against the in-memory
cluster; wiring it is `connect()` returning a `ClusterAccess`: `Binder`, `EventRecorder`,
`PodConditionWriter` and `LeaseStore` over the client, and informers feeding
`Scheduler.on_node_event` / `on_pod_event`.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Sequence

from controlplane.scheduler.app import ClusterAccess, serve
from controlplane.scheduler.errors import ClientUnavailableError, FlagError
from controlplane.scheduler.options import Options, parse_args

log = logging.getLogger("controlplane.scheduler")

CLIENT_MISSING = (
    "kube-scheduler: cannot start: kubelab's API client (kubelab.client) is not built yet, so "
    "there is no way to reach the apiserver at {where}. The scheduling core is built and tested "
    "(see docs/scheduler.md); this process will run once the client exists."
)


def connect(options: Options) -> ClusterAccess:
    """Build the adapters over `kubelab.client`; raises ClientUnavailableError until it exists."""
    where = options.master or ",".join(options.apiservers)
    raise ClientUnavailableError(CLIENT_MISSING.format(where=where))


def main(argv: Sequence[str] | None = None) -> int:
    try:
        options = parse_args(sys.argv[1:] if argv is None else argv)
    except FlagError as exc:
        print(f"kube-scheduler: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    logging.basicConfig(
        level=logging.DEBUG if options.verbosity >= 4 else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    log.info(
        "starting scheduler_name=%s leader_elect=%s lease=%s/%s identity=%s",
        options.scheduler_name,
        options.leader_elect,
        options.lease_namespace,
        options.lease_name,
        options.identity,
    )
    try:
        access = connect(options)
    except ClientUnavailableError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    stop = threading.Event()  # pragma: no cover - reached once the client exists
    for signum in (signal.SIGTERM, signal.SIGINT):  # pragma: no cover
        signal.signal(signum, lambda *_: stop.set())
    return serve(options, access, stop)  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
