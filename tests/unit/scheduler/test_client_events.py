"""ClientEvents: Events are written off the scheduling path and flushed on the way out."""

from __future__ import annotations

import threading
from typing import Any

from controlplane.scheduler.client_access import ClientEvents
from controlplane.scheduler.inmemory import make_pod


class GatedClient:
    """The one call EventRecorder makes for a new Event, held until the gate opens."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.created: list[dict[str, Any]] = []

    def create(self, resource: object, obj: dict[str, Any], **_: object) -> dict[str, Any]:
        assert self.gate.wait(10)
        self.created.append(obj)
        return obj


def test_events_are_queued_and_flushed() -> None:
    client = GatedClient()
    events = ClientEvents(client, "default-scheduler")  # type: ignore[arg-type]
    for i in range(3):
        events.event(make_pod(f"p{i}"), "Normal", "Scheduled", "Binding", f"assigned p{i}")
    assert client.created == []  # the caller never waited for the apiserver
    assert events.flush(0.05) is False  # still held
    client.gate.set()
    assert events.flush(10) is True
    assert [e["message"] for e in client.created] == ["assigned p0", "assigned p1", "assigned p2"]
    assert {e["reason"] for e in client.created} == {"Scheduled"}
    assert client.created[0]["source"] == {"component": "default-scheduler"}
