"""The scheduler's way into a real cluster: its protocols implemented over `kubelab.client`.

- `ClientBinder`: POST the pod's `binding` subresource; a conflict or a vanished pod is a
  non-retryable `BindError`, anything else (apiserver unavailable) a retryable one;
- `ClientEvents`: core/v1 Events through the client's `EventRecorder` (`kubectl describe pod`
  and `kubectl get events` show them, "From" being the scheduler's name);
- `ClientConditions`: the `PodScheduled=False` condition, merge-patched into `status`;
- `start_informers`: list+watch informers for nodes and pods feeding the `Scheduler`;
- the `Client` itself serves as the `LeaseClient` of leader election (Lease
  `kube-system/kube-scheduler`), so the scheduler and every other component elect leaders the
  same way (`kubelab.client.leaderelection`).

`serve()` builds a `Client` from `--kubeconfig` (credentials; its server's host when neither
`--apiserver` nor `--master` is given) and runs the process body, `app.serve`. No scheduling
decision is made here.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from controlplane.scheduler import app
from controlplane.scheduler.app import ClusterAccess
from controlplane.scheduler.errors import BindError, ClientUnavailableError
from controlplane.scheduler.options import DEFAULT_APISERVER, Options
from controlplane.scheduler.pod import Object
from controlplane.scheduler.scheduler import Scheduler, WatchEvent
from kubelab.api.errors import ApiError, Conflict, NotFound
from kubelab.client import NODES, PODS, Client, EventRecorder, Informer

log = logging.getLogger(__name__)

SYNC_TIMEOUT = 60.0
EVENTS_FLUSH_TIMEOUT = 5.0
GRPC_PORT = 6444


class ClientBinder:
    def __init__(self, client: Client) -> None:
        self.client = client

    def bind(self, namespace: str, name: str, node: str) -> None:
        try:
            self.client.bind(namespace, name, node)
        except (Conflict, NotFound) as exc:
            raise BindError(f"{namespace}/{name}", node, str(exc), retryable=False) from exc
        except ApiError as exc:
            raise BindError(f"{namespace}/{name}", node, str(exc), retryable=True) from exc


class ClientEvents:
    """Events are written by a background thread, as client-go's broadcaster does: the
    scheduling loop never waits for them (they are best effort; a full queue drops, logged)."""

    def __init__(self, client: Client, component: str, capacity: int = 10_000) -> None:
        self.recorder = EventRecorder(client, component=component)
        self._queue: queue.Queue[tuple[Object, str, str, str]] = queue.Queue(capacity)
        threading.Thread(target=self._drain, daemon=True, name="events").start()

    def event(self, pod: Object, type_: str, reason: str, action: str, message: str) -> None:
        # core/v1 Events carry no action; the reason says it (Scheduled / FailedScheduling).
        try:
            self._queue.put_nowait((pod, type_, reason, message))
        except queue.Full:
            log.warning("event dropped (queue full) reason=%s message=%r", reason, message)

    def _drain(self) -> None:
        while True:
            pod, type_, reason, message = self._queue.get()
            try:
                self.recorder.event(pod, type_, reason, message)
            except Exception:
                log.exception("event dropped reason=%s message=%r", reason, message)
            finally:
                self._queue.task_done()

    def flush(self, timeout: float) -> bool:
        """Wait (at most `timeout` seconds) until every queued event is written or dropped."""
        deadline = time.monotonic() + timeout
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    # (qsize() would take the mutex this block already holds)
                    log.warning("events not written count=%d", self._queue.unfinished_tasks)
                    return False
                self._queue.all_tasks_done.wait(remaining)
        return True


def scheduled_condition(
    pod: Object, reason: str, message: str, now: datetime
) -> list[dict[str, Any]]:
    """The pod's conditions with PodScheduled set to False for `reason` (pure)."""
    conditions = [
        c
        for c in ((pod.get("status") or {}).get("conditions") or [])
        if isinstance(c, dict) and c.get("type") != "PodScheduled"
    ]
    conditions.append(
        {
            "type": "PodScheduled",
            "status": "False",
            "reason": reason,
            "message": message,
            "lastProbeTime": None,
            "lastTransitionTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    )
    return conditions


class ClientConditions:
    def __init__(
        self, client: Client, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.client = client
        self.clock = clock

    def set_unschedulable(self, pod: Object, reason: str, message: str) -> None:
        meta = pod.get("metadata") or {}
        for c in (pod.get("status") or {}).get("conditions") or []:
            if (
                c.get("type") == "PodScheduled"
                and c.get("status") == "False"
                and c.get("reason") == reason
                and c.get("message") == message
            ):
                return  # already says so: no write, no watch event, no requeue storm
        patch = {"status": {"conditions": scheduled_condition(pod, reason, message, self.clock())}}
        try:
            self.client.patch(
                PODS,
                str(meta.get("name", "")),
                patch,
                namespace=str(meta.get("namespace") or "default"),
                subresource="status",
            )
        except NotFound:
            return


def start_informers(
    client: Client, scheduler: Scheduler, informers: list[Informer] | None = None
) -> list[Informer]:
    """Nodes first (so the first pods already see them), then pods; both synced on return.
    Each informer is appended to `informers` as soon as it runs, so a caller can stop the
    ones started even when a later one fails to sync."""
    informers = [] if informers is None else informers
    for resource, handler in (
        (NODES, scheduler.on_node_event),
        (PODS, scheduler.on_pod_event),
    ):
        informer = Informer(client, resource)
        _feed(informer, handler)
        informer.start()
        informers.append(informer)
        if not informer.wait_for_sync(SYNC_TIMEOUT):
            raise ClientUnavailableError(
                f"kube-scheduler: cannot list {resource} from the apiserver at "
                f"{','.join(client.endpoints)} within {SYNC_TIMEOUT:.0f}s"
            )
    return informers


def _feed(informer: Informer, handler: Callable[[WatchEvent, Object], None]) -> None:
    informer.add_handler(
        on_add=lambda obj: handler(WatchEvent.ADDED, obj),
        on_update=lambda _old, new: handler(WatchEvent.MODIFIED, new),
        on_delete=lambda obj: handler(WatchEvent.DELETED, obj),
    )


def _client(options: Options) -> Client:
    if not options.kubeconfig:
        raise ClientUnavailableError(
            "kube-scheduler: cannot start: the apiserver's gRPC API needs client certificates; "
            "pass --kubeconfig FILE (e.g. /var/lib/kubelab/<cluster>/pki/admin.kubeconfig)"
        )
    endpoints: list[str] = []
    if options.master:
        host = urlsplit(options.master).hostname
        if not host:
            raise ClientUnavailableError(f"kube-scheduler: --master {options.master!r} has no host")
        endpoints = [f"{host}:{GRPC_PORT}"]
    elif options.apiservers != (DEFAULT_APISERVER,):
        endpoints = list(options.apiservers)
    try:
        return Client.from_kubeconfig(Path(options.kubeconfig), endpoints=endpoints)
    except (OSError, ValueError, KeyError, StopIteration, yaml.YAMLError) as exc:
        raise ClientUnavailableError(
            f"kube-scheduler: --kubeconfig {options.kubeconfig}: cannot use it: {exc}"
        ) from exc


def serve(options: Options, stop: threading.Event) -> int:
    """The process body over a real apiserver; returns the exit status."""
    client = _client(options)
    informers: list[Informer] = []
    events = ClientEvents(client, options.scheduler_name)
    access = ClusterAccess(
        ClientBinder(client),
        events,
        ClientConditions(client),
        client,
        lambda scheduler: start_informers(client, scheduler, informers),
    )
    try:
        return app.serve(options, access, stop)
    finally:
        for informer in informers:
            informer.stop()
        events.flush(EVENTS_FLUSH_TIMEOUT)  # Events still queued behind the last bindings
        client.close()
