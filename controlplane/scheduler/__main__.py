"""`python -m controlplane.scheduler`: the kube-scheduler process.

It parses kube-scheduler's flags, configures logging, and then needs an API client to list and
watch nodes and pods, post bindings and events, and hold the Lease. kubelab's gRPC client
(`kubelab.client`) does not exist yet, so the process stops there with a clear message and exit
status 1 instead of pretending to schedule. The scheduling core it would run (`Scheduler`,
`LeaderElector`) is complete and tested against the in-memory cluster; wiring it is an adapter
that implements `Binder`, `EventRecorder`, `PodConditionWriter` and `LeaseStore` over the client
and feeds informer events to `Scheduler.on_node_event` / `on_pod_event`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from controlplane.scheduler.errors import ClientUnavailableError, FlagError
from controlplane.scheduler.options import Options, parse_args

log = logging.getLogger("controlplane.scheduler")

CLIENT_MISSING = (
    "kube-scheduler: cannot start: kubelab's API client (kubelab.client) is not built yet, so "
    "there is no way to reach the apiserver at {where}. The scheduling core is built and tested "
    "(see docs/scheduler.md); this process will run once the client exists."
)


def connect(options: Options) -> None:
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
        connect(options)
    except ClientUnavailableError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    return 0  # pragma: no cover - unreachable until the client exists


if __name__ == "__main__":
    sys.exit(main())
