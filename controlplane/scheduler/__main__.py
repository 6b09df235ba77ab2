"""`python -m controlplane.scheduler`: the kube-scheduler process.

It parses kube-scheduler's flags, configures logging and runs `client_access.serve`: informers
for nodes and pods over `kubelab.client`, bindings through the `binding` subresource, Events and
the PodScheduled condition, behind Lease-based leader election unless `--leader-elect=false`.
The gRPC API needs client certificates, which come from `--kubeconfig`.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Sequence

from controlplane.scheduler.client_access import serve
from controlplane.scheduler.errors import ClientUnavailableError, FlagError
from controlplane.scheduler.options import parse_args

log = logging.getLogger("controlplane.scheduler")


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
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        return serve(options, stop)
    except ClientUnavailableError as exc:
        print(str(exc), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
