"""The loop against the in-memory cluster, driven step by step with a fake clock."""

from __future__ import annotations

from controlplane.scheduler.errors import BindError
from controlplane.scheduler.inmemory import InMemoryCluster, make_node, make_pod
from controlplane.scheduler.pod import PodKey
from controlplane.scheduler.scheduler import Outcome, Scheduler, WatchEvent, node_change_matters
from tests.unit.scheduler.fakeclock import FakeClock


def setup(
    *, deliver: str = "sync", name: str = "default-scheduler"
) -> tuple[InMemoryCluster, Scheduler, FakeClock]:
    clock = FakeClock()
    cluster = InMemoryCluster(deliver=deliver)  # type: ignore[arg-type]
    scheduler = Scheduler(cluster, cluster, cluster, scheduler_name=name, clock=clock)
    cluster.subscribe(scheduler)
    return cluster, scheduler, clock


def test_binds_and_records_scheduled_event() -> None:
    cluster, scheduler, _ = setup()
    cluster.add_node(make_node("node-1"))
    cluster.create_pod(make_pod("web"))
    [attempt] = scheduler.run_until_idle()
    assert attempt.outcome is Outcome.BOUND
    assert cluster.node_of("default/web") == "node-1"
    [event] = cluster.events_for("default/web")
    assert (event["type"], event["reason"], event["action"]) == ("Normal", "Scheduled", "Binding")
    assert event["note"] == "Successfully assigned default/web to node-1"
    conditions = cluster.pods["default/web"]["status"]["conditions"]
    assert {"type": "PodScheduled", "status": "True"} in conditions


def test_only_pods_for_this_scheduler_name() -> None:
    cluster, scheduler, _ = setup(name="default-scheduler")
    cluster.add_node(make_node("node-1"))
    cluster.create_pod(make_pod("mine"))
    cluster.create_pod(make_pod("theirs", scheduler_name="other-scheduler"))
    cluster.create_pod(make_pod("explicit", scheduler_name="default-scheduler"))
    bound = {a.pod for a in scheduler.run_until_idle()}
    assert bound == {"default/mine", "default/explicit"}
    assert cluster.node_of("default/theirs") == ""


def test_two_schedulers_side_by_side_count_each_others_pods() -> None:
    cluster = InMemoryCluster()
    clock = FakeClock()
    first = Scheduler(cluster, cluster, cluster, clock=clock)
    second = Scheduler(cluster, cluster, cluster, scheduler_name="second", clock=clock)
    cluster.subscribe(first)
    cluster.subscribe(second)
    cluster.add_node(make_node("only", cpu="1"))
    cluster.create_pod(make_pod("a", cpu="600m", scheduler_name="second"))
    cluster.create_pod(make_pod("b", cpu="600m"))
    assert [a.outcome for a in second.run_until_idle()] == [Outcome.BOUND]
    [attempt] = first.run_until_idle()
    assert attempt.outcome is Outcome.UNSCHEDULABLE
    assert attempt.message.startswith("0/1 nodes are available: 1 Insufficient cpu.")


def test_burst_never_overcommits_while_bindings_are_unobserved() -> None:
    # The watch holds every bound pod back: only assume() keeps the count right.
    cluster, scheduler, _ = setup(deliver="manual")
    cluster.add_node(make_node("n1", cpu="2"))
    cluster.add_node(make_node("n2", cpu="2"))
    for i in range(6):
        cluster.create_pod(make_pod(f"p{i}", cpu="1"))
    cluster.flush()
    attempts = scheduler.run_until_idle()
    outcomes = [a.outcome for a in attempts]
    assert outcomes.count(Outcome.BOUND) == 4
    assert outcomes.count(Outcome.UNSCHEDULABLE) == 2
    per_node: dict[str, int] = {}
    for _, node in cluster.bindings:
        per_node[node] = per_node.get(node, 0) + 1
    assert per_node == {"n1": 2, "n2": 2}
    cluster.flush()  # the bound pods arrive: assumptions are confirmed, nothing double counted
    snapshot = {n.name: n.requested["cpu"] for n in scheduler.cache.snapshot().nodes}
    assert snapshot == {"n1": 2000, "n2": 2000}


def test_refused_binding_forgets_the_assumption_and_backs_off() -> None:
    cluster, scheduler, clock = setup()
    cluster.add_node(make_node("n1", cpu="1"))
    refusals = iter(["apiserver unavailable"])

    def refuse_once(key: str, node: str) -> None:
        reason = next(refusals, None)
        if reason:
            raise BindError(key, node, reason)

    cluster.bind_hook = refuse_once
    cluster.create_pod(make_pod("web", cpu="1"))
    [attempt] = scheduler.run_until_idle()
    assert attempt.outcome is Outcome.ERROR
    assert attempt.message == (
        'Binding rejected: running Bind plugin "DefaultBinder": apiserver unavailable'
    )
    assert scheduler.cache.snapshot().nodes[0].requested.get("cpu", 0) == 0
    [event] = cluster.events_for("default/web", "FailedScheduling")
    assert event["note"] == attempt.message
    condition = cluster.pods["default/web"]["status"]["conditions"][-1]
    assert condition["reason"] == "SchedulerError"
    assert scheduler.run_until_idle() == []  # backing off
    clock.advance(1.0)
    [again] = scheduler.run_until_idle()
    assert again.outcome is Outcome.BOUND


def test_unschedulable_pod_gets_event_and_condition_then_waits() -> None:
    cluster, scheduler, clock = setup()
    cluster.add_node(make_node("n1", cpu="1"))
    cluster.create_pod(make_pod("big", cpu="2"))
    [attempt] = scheduler.run_until_idle()
    message = (
        "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: "
        "1 Preemption is not helpful for scheduling."
    )
    assert attempt.message == message
    [event] = cluster.events_for("default/big", "FailedScheduling")
    assert (event["type"], event["action"], event["note"]) == ("Warning", "Scheduling", message)
    condition = cluster.pods["default/big"]["status"]["conditions"][-1]
    assert condition == {
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": message,
    }
    clock.advance(3600)  # nothing changes in the cluster: only the 5-minute flush retries it
    assert [a.outcome for a in scheduler.run_until_idle()] == [Outcome.UNSCHEDULABLE]


def test_deleting_a_bound_pod_retries_the_unschedulable_ones() -> None:
    cluster, scheduler, clock = setup()
    cluster.add_node(make_node("n1", cpu="1"))
    cluster.create_pod(make_pod("first", cpu="1"))
    cluster.create_pod(make_pod("second", cpu="1"))
    assert [a.outcome for a in scheduler.run_until_idle()] == [Outcome.BOUND, Outcome.UNSCHEDULABLE]
    clock.advance(5)
    cluster.delete_pod("default/first")
    [attempt] = scheduler.run_until_idle()
    assert (attempt.pod, attempt.outcome) == ("default/second", Outcome.BOUND)


def test_invalid_pod_is_reported_not_crashed_on() -> None:
    cluster, scheduler, _ = setup()
    cluster.add_node(make_node("n1"))
    cluster.create_pod(make_pod("bad", cpu="a lot"))
    [attempt] = scheduler.run_until_idle()
    assert attempt.outcome is Outcome.ERROR
    assert "spec.containers[0].resources.requests.cpu" in attempt.message
    assert "'a lot'" in attempt.message


def test_pod_being_deleted_is_skipped() -> None:
    cluster, scheduler, _ = setup()
    cluster.add_node(make_node("n1"))
    pod = make_pod("going")
    pod["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    cluster.create_pod(pod)
    [attempt] = scheduler.run_until_idle()
    assert attempt.outcome is Outcome.SKIPPED
    assert cluster.bindings == []


def test_terminal_pods_do_not_count() -> None:
    cluster, scheduler, _ = setup()
    cluster.add_node(make_node("n1", cpu="1"))
    done = make_pod("done", cpu="1", node_name="n1")
    cluster.create_pod(done)
    done = dict(done, status={"phase": "Succeeded"})
    scheduler.on_pod_event(WatchEvent.MODIFIED, done)
    cluster.create_pod(make_pod("next", cpu="1"))
    assert [a.outcome for a in scheduler.run_until_idle()] == [Outcome.BOUND]


def test_only_relevant_node_changes_wake_the_pool() -> None:
    node = make_node("n1")
    heartbeat = make_node("n1")
    heartbeat["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
    assert node_change_matters(None, node)
    assert not node_change_matters(node, heartbeat)
    assert node_change_matters(node, make_node("n1", labels={"disk": "ssd"}))
    assert node_change_matters(node, make_node("n1", unschedulable=True))
    assert node_change_matters(node, make_node("n1", cpu="8"))


def test_node_with_unreadable_allocatable_is_left_out() -> None:
    cluster, scheduler, _ = setup()
    bad = make_node("bad")
    bad["status"]["allocatable"]["cpu"] = "four"
    cluster.add_node(bad)
    cluster.add_node(make_node("good"))
    cluster.create_pod(make_pod("web"))
    [attempt] = scheduler.run_until_idle()
    assert (attempt.outcome, attempt.node) == (Outcome.BOUND, "good")


def test_binder_that_breaks_does_not_stop_the_loop() -> None:
    cluster, scheduler, clock = setup()
    cluster.add_node(make_node("n1", cpu="1"))
    breaks = iter([RuntimeError("client bug")])

    def break_once(key: str, node: str) -> None:
        error = next(breaks, None)
        if error is not None:
            raise error

    cluster.bind_hook = break_once
    cluster.create_pod(make_pod("web", cpu="1"))
    [attempt] = scheduler.run_until_idle()
    assert attempt.outcome is Outcome.ERROR
    assert attempt.message.endswith("client bug")
    assert not scheduler.cache.is_assumed(PodKey("default/web"))
    clock.advance(1.0)
    [again] = scheduler.run_until_idle()
    assert (again.outcome, again.node) == (Outcome.BOUND, "n1")
