from __future__ import annotations

from controlplane.scheduler.events import make_event
from controlplane.scheduler.inmemory import make_pod


def test_scheduled_event_shape() -> None:
    pod = make_pod("web")
    pod["metadata"]["uid"] = "1234"
    event = make_event(
        pod,
        "Normal",
        "Scheduled",
        "Binding",
        "Successfully assigned default/web to node-1",
        now=1_700_000_000.25,
    )
    assert event == {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": f"web.{1_700_000_000_250_000_000:x}", "namespace": "default"},
        "eventTime": "2023-11-14T22:13:20.250000Z",
        "reportingController": "default-scheduler",
        "reportingInstance": "default-scheduler",
        "action": "Binding",
        "reason": "Scheduled",
        "regarding": {
            "apiVersion": "v1",
            "kind": "Pod",
            "namespace": "default",
            "name": "web",
            "uid": "1234",
        },
        "note": "Successfully assigned default/web to node-1",
        "type": "Normal",
    }


def test_long_notes_are_truncated_like_upstream() -> None:
    event = make_event(
        make_pod("web"), "Warning", "FailedScheduling", "Scheduling", "x" * 5000, now=0.0
    )
    assert len(event["note"]) == 1024
