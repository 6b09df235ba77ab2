"""The Event objects the scheduler writes, as the API serialises them (pure).

kube-scheduler records through the events.k8s.io/v1 API: `reportingController`
`default-scheduler` (the scheduler's name), `action` `Scheduling` or `Binding`, `reason`
`Scheduled` or `FailedScheduling`, the message in `note`, and a name of the form
`<pod>.<nanoseconds in hex>`. `kubectl describe pod` shows them under Events, "From" being the
reporting controller. The adapter over the real client posts what `make_event` returns.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from controlplane.scheduler.pod import DEFAULT_SCHEDULER_NAME, Object


def micro_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make_event(
    pod: Object,
    type_: str,
    reason: str,
    action: str,
    note: str,
    *,
    now: float,
    reporting_controller: str = DEFAULT_SCHEDULER_NAME,
    reporting_instance: str = "",
) -> Object:
    meta = pod.get("metadata") or {}
    namespace = meta.get("namespace") or "default"
    regarding: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "namespace": namespace,
        "name": meta.get("name", ""),
    }
    for field in ("uid", "resourceVersion"):
        if meta.get(field):
            regarding[field] = meta[field]
    # Upstream names events <object>.<UnixNano in hex>; microseconds keep floats exact.
    name = f"{meta.get('name', '')}.{round(now * 1e6) * 1000:x}"
    return {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": namespace},
        "eventTime": micro_time(now),
        "reportingController": reporting_controller,
        "reportingInstance": reporting_instance or reporting_controller,
        "action": action,
        "reason": reason,
        "regarding": regarding,
        "note": note[:1024],
        "type": type_,
    }
