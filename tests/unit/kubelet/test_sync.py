from __future__ import annotations

from node_agent.kubelet.backoff import BackOff, BackOffPolicy
from node_agent.kubelet.state import ObservedPod
from node_agent.kubelet.sync import (
    CreateSandbox,
    KillContainer,
    Plan,
    ProbeVerdict,
    PullFailed,
    StartContainer,
    backoff_key,
    compute_plan,
)
from tests.unit.kubelet.factories import exited, pod, running

C = {"name": "c", "image": "busybox"}
D = {"name": "d", "image": "busybox"}


def plan_for(
    spec: object,
    observed: ObservedPod,
    *,
    now: float = 200.0,
    backoff: BackOff | None = None,
    probes: dict[str, ProbeVerdict] | None = None,
) -> Plan:
    return compute_plan(
        spec,  # type: ignore[arg-type]
        observed,
        now=now,
        backoff=backoff or BackOff(),
        probes=probes or {},
        image_known=lambda image: image != "nope",
    )


def test_new_pod_gets_a_sandbox_then_all_app_containers() -> None:
    plan = plan_for(pod(C, D), ObservedPod("u1"))
    assert plan.actions == (CreateSandbox(), StartContainer("c", 0), StartContainer("d", 0))


def test_running_pod_needs_nothing() -> None:
    observed = ObservedPod("u1", True, "10.0.0.2", {"c": running("c")})
    assert plan_for(pod(C), observed).actions == ()


def test_init_containers_run_one_at_a_time_in_order() -> None:
    spec = pod(C, init=({"name": "i1", "image": "busybox"}, {"name": "i2", "image": "busybox"}))
    first = plan_for(spec, ObservedPod("u1"))
    assert first.actions == (CreateSandbox(), StartContainer("i1", 0))
    assert first.waiting["c"].reason == "PodInitializing"
    busy = ObservedPod("u1", True, "ip", {"i1": running("i1")})
    assert plan_for(spec, busy).actions == ()
    done1 = ObservedPod("u1", True, "ip", {"i1": exited("i1", 0)})
    assert plan_for(spec, done1).actions == (StartContainer("i2", 0),)
    done2 = ObservedPod("u1", True, "ip", {"i1": exited("i1", 0), "i2": exited("i2", 0)})
    assert plan_for(spec, done2).actions == (StartContainer("c", 0),)


def test_failed_init_container_fails_the_pod_under_never_and_restarts_otherwise() -> None:
    init = ({"name": "i1", "image": "busybox"},)
    observed = ObservedPod("u1", True, "ip", {"i1": exited("i1", 1)})
    assert plan_for(pod(C, init=init, restart="Never"), observed).init_failed
    again = plan_for(pod(C, init=init, restart="Always"), observed)
    assert again.actions == (StartContainer("i1", 1),)


def test_restart_policy_decides_about_exited_containers() -> None:
    ok = ObservedPod("u1", True, "ip", {"c": exited("c", 0)})
    bad = ObservedPod("u1", True, "ip", {"c": exited("c", 2)})
    assert plan_for(pod(C, restart="Always"), ok).actions == (StartContainer("c", 1),)
    assert plan_for(pod(C, restart="OnFailure"), ok).actions == ()
    assert plan_for(pod(C, restart="OnFailure"), bad).actions == (StartContainer("c", 1),)
    assert plan_for(pod(C, restart="Never"), bad).actions == ()


def test_crash_loop_waits_for_the_back_off() -> None:
    b = BackOff(BackOffPolicy(initial=10, maximum=300))
    b.next(backoff_key("u1", "c"), now=100)  # the restart that just crashed again
    observed = ObservedPod("u1", True, "ip", {"c": exited("c", 1, attempt=1, finished=150)})
    waiting = plan_for(pod(C), observed, now=155, backoff=b)
    assert waiting.actions == ()
    assert waiting.waiting["c"].reason == "CrashLoopBackOff"
    assert "back-off 10s" in waiting.waiting["c"].message
    assert plan_for(pod(C), observed, now=160, backoff=b).actions == (StartContainer("c", 2),)


def test_failed_liveness_kills_the_container() -> None:
    observed = ObservedPod("u1", True, "ip", {"c": running("c")})
    plan = plan_for(pod(C), observed, probes={"c": ProbeVerdict(liveness_failed=True)})
    assert plan.actions == (KillContainer("c", "Unhealthy", ""),)


def test_unknown_image_pulls_then_backs_off() -> None:
    spec = pod({"name": "c", "image": "nope"})
    b = BackOff()
    first = plan_for(spec, ObservedPod("u1", True, "ip"), backoff=b, now=100)
    assert first.actions == (PullFailed("c"),)
    assert first.waiting["c"].reason == "ErrImagePull"
    b.next("u1/c/pull", now=100)
    second = plan_for(spec, ObservedPod("u1", True, "ip"), backoff=b, now=101)
    assert second.actions == ()
    assert second.waiting["c"].reason == "ImagePullBackOff"


def test_lost_sandbox_is_recreated_and_containers_restart_counting_on() -> None:
    observed = ObservedPod("u1", False, None, {"c": exited("c", 137)})
    plan = plan_for(pod(C), observed)
    assert plan.actions == (CreateSandbox(), StartContainer("c", 1))


def test_finished_pod_gets_no_new_sandbox() -> None:
    observed = ObservedPod("u1", False, None, {"c": exited("c", 0)})
    assert plan_for(pod(C, restart="Never"), observed).actions == ()
