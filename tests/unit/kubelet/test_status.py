from __future__ import annotations

from typing import Any

import pytest

from node_agent.kubelet.spec import PodSpec
from node_agent.kubelet.state import ContainerRun, ObservedPod
from node_agent.kubelet.status import ContainerHealth, phase, pod_status
from node_agent.kubelet.sync import Plan, Waiting
from tests.unit.kubelet.factories import exited, pod, running

C = {"name": "c", "image": "busybox"}


def status(spec: PodSpec, observed: ObservedPod, plan: Plan | None = None, **health: Any) -> Any:
    return pod_status(
        spec,
        observed,
        plan or Plan(),
        {name: ContainerHealth(ready=r, started=True) for name, r in health.items()},
        now=1000,
        host_ip="10.250.0.20",
        start_time=990,
    )


PHASES = [
    ("no-runs", "Always", {}, "Pending"),
    ("running", "Always", {"c": running("c")}, "Running"),
    ("completed-never", "Never", {"c": exited("c", 0)}, "Succeeded"),
    ("failed-never", "Never", {"c": exited("c", 1)}, "Failed"),
    ("failed-onfailure-restarts", "OnFailure", {"c": exited("c", 1)}, "Running"),
    ("completed-onfailure", "OnFailure", {"c": exited("c", 0)}, "Succeeded"),
    ("crashloop-always", "Always", {"c": exited("c", 1)}, "Running"),
]


@pytest.mark.parametrize(
    ("policy", "runs", "expected"), [p[1:] for p in PHASES], ids=[p[0] for p in PHASES]
)
def test_phase(policy: str, runs: dict[str, ContainerRun], expected: str) -> None:
    spec = pod(C, restart=policy)
    assert phase(spec, ObservedPod("u1", True, "ip", runs), Plan()) == expected


def test_running_ready_pod_reports_ip_conditions_and_container_state() -> None:
    spec = pod(C)
    observed = ObservedPod("u1", True, "10.244.1.5", {"c": running("c", attempt=2)})
    s = status(spec, observed, c=True)
    assert s["phase"] == "Running"
    assert s["podIP"] == "10.244.1.5"
    assert s["podIPs"] == [{"ip": "10.244.1.5"}]
    assert {c["type"]: c["status"] for c in s["conditions"]} == {
        "Initialized": "True",
        "Ready": "True",
        "ContainersReady": "True",
        "PodScheduled": "True",
    }
    cs = s["containerStatuses"][0]
    assert cs["ready"]
    assert cs["restartCount"] == 2
    assert "running" in cs["state"]


def test_not_ready_container_makes_the_pod_not_ready() -> None:
    s = status(pod(C), ObservedPod("u1", True, "ip", {"c": running("c")}), c=False)
    ready = next(c for c in s["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False"
    assert ready["reason"] == "ContainersNotReady"


def test_terminated_state_has_exit_code_reason_and_last_state() -> None:
    observed = ObservedPod(
        "u1",
        True,
        "ip",
        {"c": exited("c", 137, attempt=1)},
        previous={"c": exited("c", 1, attempt=0)},
    )
    plan = Plan(waiting={"c": Waiting("CrashLoopBackOff", "back-off 10s")})
    cs = status(pod(C), observed, plan)["containerStatuses"][0]
    assert cs["state"] == {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s"}}
    last = cs["lastState"]["terminated"]
    assert last["exitCode"] == 137
    assert last["reason"] == "Error"
    assert last["signal"] == 9


def test_reasons_completed_and_oomkilled() -> None:
    done = ContainerRun("c", 0, "id", 1.0, 2.0, 0)
    oom = ContainerRun("c", 0, "id", 1.0, 2.0, 137, oom_killed=True)
    assert done.reason == "Completed"
    assert oom.reason == "OOMKilled"


def test_transition_time_is_kept_while_a_condition_holds() -> None:
    spec = pod(C)
    observed = ObservedPod("u1", True, "ip", {"c": running("c")})
    first = status(spec, observed, c=True)
    later = pod_status(
        spec,
        observed,
        Plan(),
        {"c": ContainerHealth(True, True)},
        now=5000,
        host_ip="",
        start_time=990,
        previous=first,
    )
    assert first["conditions"] == later["conditions"]


def test_init_container_pending_then_initialized() -> None:
    spec = pod(C, init=({"name": "i", "image": "busybox"},))
    waiting = status(spec, ObservedPod("u1", True, "ip", {"i": running("i")}))
    assert waiting["phase"] == "Pending"
    init = next(c for c in waiting["conditions"] if c["type"] == "Initialized")
    assert init["status"] == "False"
    assert waiting["initContainerStatuses"][0]["name"] == "i"
