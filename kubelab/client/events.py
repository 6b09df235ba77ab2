"""`EventRecorder`: the Events that `kubectl describe` shows (Scheduled, Pulled, Started, ...).

    recorder = EventRecorder(client, component="default-scheduler")
    recorder.event(pod, "Normal", "Scheduled", "Successfully assigned default/web to node-1")

Events are core/v1 Events named `<object>.<random>` in the object's namespace, with
`involvedObject` pointing at it (so `describe` finds them by field selector). A repeat of the
same reason and message for the same object within this recorder bumps `count` and
`lastTimestamp` instead of creating another Event, as client-go's correlator does. Recording
never raises: an event that cannot be written is logged and dropped.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from kubelab.api.errors import ApiError
from kubelab.api.tables import format_micro_time, format_time
from kubelab.api.types import Object
from kubelab.client.client import Client
from kubelab.client.resources import EVENTS

log = logging.getLogger(__name__)


def involved_object(obj: Object) -> dict[str, str]:
    meta = obj.get("metadata") or {}
    ref = {
        "apiVersion": str(obj.get("apiVersion", "v1")),
        "kind": str(obj.get("kind", "")),
        "name": str(meta.get("name", "")),
        "uid": str(meta.get("uid", "")),
        "resourceVersion": str(meta.get("resourceVersion", "")),
    }
    if meta.get("namespace"):
        ref["namespace"] = str(meta["namespace"])
    return ref


class EventRecorder:
    def __init__(
        self,
        client: Client,
        *,
        component: str,
        host: str = "",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.client = client
        self.component = component
        self.host = host
        self.clock = clock
        self._seen: dict[tuple[str, str, str, str], tuple[str, int]] = {}
        self._lock = threading.Lock()

    def event(self, obj: Object, type_: str, reason: str, message: str) -> Object | None:
        ref = involved_object(obj)
        namespace = ref.get("namespace", "default")
        now = self.clock()
        key = (ref["uid"] or ref["name"], type_, reason, message)
        with self._lock:
            previous = self._seen.get(key)
        try:
            if previous is not None:
                name, count = previous
                patch = {"count": count + 1, "lastTimestamp": format_time(now)}
                out = self.client.patch(EVENTS, name, patch, namespace=namespace)
            else:
                name = f"{ref['name']}.{secrets.token_hex(8)}"
                out = self.client.create(
                    EVENTS,
                    {
                        "metadata": {"name": name, "namespace": namespace},
                        "involvedObject": ref,
                        "reason": reason,
                        "message": message,
                        "type": type_,
                        "source": {"component": self.component, "host": self.host}
                        if self.host
                        else {"component": self.component},
                        "firstTimestamp": format_time(now),
                        "lastTimestamp": format_time(now),
                        "eventTime": None,
                        "count": 1,
                        "reportingComponent": self.component,
                        "reportingInstance": self.host,
                    },
                    namespace=namespace,
                )
        except ApiError as exc:
            log.warning(
                "event dropped object=%s/%s reason=%s err=%s", namespace, ref["name"], reason, exc
            )
            with self._lock:
                self._seen.pop(key, None)
            return None
        with self._lock:
            self._seen[key] = (name, int(out.get("count", 1)))
        return out

    @staticmethod
    def micro_time(when: datetime) -> str:
        return format_micro_time(when)
