from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

from node_agent.kubelet.backoff import BackOffPolicy
from node_agent.kubelet.errors import ConfigError
from node_agent.kubelet.kubelet import Kubelet, KubeletConfig
from node_agent.kubelet.node import Capacity, NodeConfig
from node_agent.kubelet.routes import PodRoute
from node_agent.kubelet.runtime import ExecResult
from node_agent.kubelet.spec import PodSpec
from tests.support import wait_until
from tests.unit.kubelet.factories import pod_dict
from tests.unit.kubelet.fakes import FakeClock, FakeRuntime, FakeSink, FakeSource

NODE = NodeConfig("n1", "10.250.0.20", "10.244.1.0/24", Capacity(2000, 2**30))


def make(*pods: dict[str, Any]) -> tuple[Kubelet, FakeRuntime, FakeSink, FakeSource, FakeClock]:
    clock = FakeClock()
    runtime = FakeRuntime(clock)
    sink = FakeSink()
    source = FakeSource(*pods)
    config = KubeletConfig(node=NODE, backoff=BackOffPolicy(initial=10, maximum=40))
    kubelet = Kubelet(config, source, sink, runtime, clock=clock, image_known=lambda i: i != "nope")
    return kubelet, runtime, sink, source, clock


def sync(kubelet: Kubelet) -> None:
    kubelet.refresh()
    for uid in list(kubelet.pods):
        kubelet.sync_pod(uid)


def container(sink: FakeSink, pod: str = "p") -> dict[str, Any]:
    return sink.statuses[pod]["containerStatuses"][0]  # type: ignore[no-any-return]


def test_crash_loop_restart_counts_and_back_off() -> None:
    kubelet, runtime, sink, _, clock = make(pod_dict())
    sync(kubelet)
    assert runtime.calls == [("sandbox", "u1"), ("start", "c", "0")]
    assert sink.statuses["p"]["phase"] == "Running"
    delays = []
    for crash in range(4):
        clock.now += 1
        runtime.finish("u1", "c", 1)
        sync(kubelet)
        started = runtime.calls[-1] == ("start", "c", str(crash + 1))
        waited = 0
        while not started:
            assert container(sink)["state"]["waiting"]["reason"] == "CrashLoopBackOff"
            clock.now += 1
            waited += 1
            sync(kubelet)
            started = runtime.calls[-1] == ("start", "c", str(crash + 1))
        delays.append(waited)
        assert container(sink)["restartCount"] == crash + 1
    assert delays == [0, 10, 20, 40]
    last = container(sink)["lastState"]["terminated"]
    assert last["exitCode"] == 1
    assert last["reason"] == "Error"


def test_deleted_pod_is_removed_and_reported() -> None:
    kubelet, runtime, sink, source, _ = make(pod_dict())
    sync(kubelet)
    source.items = []
    kubelet.refresh()
    kubelet.stop()  # waits for the removal submitted to the worker pool
    assert ("remove", "u1") in runtime.calls
    assert sink.removed == ["p"]


def test_restarted_kubelet_adopts_running_pods_without_starting_twice() -> None:
    kubelet, runtime, _sink, source, clock = make(pod_dict())
    sync(kubelet)
    calls = list(runtime.calls)
    fresh = Kubelet(kubelet.config, source, FakeSink(), runtime, clock=clock)
    sync(fresh)
    assert runtime.calls == calls


def test_restarted_kubelet_removes_orphans() -> None:
    kubelet, runtime, _, source, clock = make(pod_dict())
    sync(kubelet)
    source.items = []
    fresh = Kubelet(kubelet.config, source, FakeSink(), runtime, clock=clock)
    fresh.refresh()
    fresh.stop()
    assert ("remove", "u1") in runtime.calls


def test_unknown_image_reports_err_image_pull_then_back_off() -> None:
    kubelet, runtime, sink, _, clock = make(pod_dict({"name": "c", "image": "nope"}))
    sync(kubelet)
    assert container(sink)["state"]["waiting"]["reason"] == "ErrImagePull"
    clock.now += 1
    sync(kubelet)
    waiting = container(sink)["state"]["waiting"]
    assert waiting["reason"] == "ImagePullBackOff"
    assert sink.statuses["p"]["phase"] == "Pending"
    assert not any(c[0] == "start" for c in runtime.calls)


def test_never_policy_pod_succeeds() -> None:
    kubelet, runtime, sink, _, clock = make(pod_dict(restart="Never"))
    sync(kubelet)
    clock.now += 1
    runtime.finish("u1", "c", 0)
    sync(kubelet)
    assert sink.statuses["p"]["phase"] == "Succeeded"
    assert container(sink)["state"]["terminated"]["reason"] == "Completed"


def test_node_status_and_lease() -> None:
    kubelet, _, sink, _, _ = make()
    kubelet.report_node()
    kubelet.renew_lease()
    assert sink.nodes[0]["metadata"]["name"] == "n1"
    assert sink.leases[0]["spec"]["holderIdentity"] == "n1"


class Nodes:
    def nodes(self) -> list[dict[str, Any]]:
        return [
            {
                "metadata": {"name": name},
                "spec": {"podCIDR": cidr},
                "status": {"addresses": [{"type": "InternalIP", "address": ip}]},
            }
            for name, cidr, ip in (
                ("n1", "10.244.1.0/24", "10.250.0.20"),
                ("n2", "10.244.2.0/24", "10.250.0.21"),
            )
        ]


class Routes:
    def __init__(self) -> None:
        self.synced: list[list[PodRoute]] = []

    def sync_routes(self, desired: Iterable[PodRoute]) -> None:
        self.synced.append(list(desired))


def test_routes_to_other_nodes_follow_the_node_objects() -> None:
    clock = FakeClock()
    routes = Routes()
    kubelet = Kubelet(
        KubeletConfig(node=NODE),
        FakeSource(),
        FakeSink(),
        FakeRuntime(clock),
        clock=clock,
        nodes=Nodes(),
        routes=routes,
    )
    kubelet.sync_node_routes()
    assert routes.synced == [[PodRoute("10.244.2.0/24", "10.250.0.21")]]


class ScriptedRuntime(FakeRuntime):
    """Exec probes answer from a per-command table."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock)
        self.answers: dict[str, int] = {}

    def exec(
        self, pod: PodSpec, name: str, argv: Sequence[str], timeout: float, stdin: bytes = b""
    ) -> ExecResult:
        return ExecResult(self.answers.get(argv[-1], 1), "")


def probe_round(kubelet: Kubelet, clock: FakeClock, seconds: float = 1) -> None:
    clock.now += seconds
    kubelet.probe_tick()
    wait_until(lambda: not kubelet.probes.busy(), 5)
    kubelet._pool.submit(lambda: None).result()  # let woken syncs finish
    wait_until(lambda: not kubelet._busy, 5)
    sync(kubelet)


def test_startup_probe_gates_liveness_and_readiness_then_liveness_restarts() -> None:
    def exec_probe(cmd: str, **kw: Any) -> dict[str, Any]:
        return {"exec": {"command": ["check", cmd]}, "periodSeconds": 1, **kw}

    spec = pod_dict(
        {
            "name": "c",
            "image": "busybox",
            "startupProbe": exec_probe("started", failureThreshold=30),
            "livenessProbe": exec_probe("alive", failureThreshold=2),
            "readinessProbe": exec_probe("ready"),
        }
    )
    clock = FakeClock()
    runtime = ScriptedRuntime(clock)
    sink = FakeSink()
    kubelet = Kubelet(KubeletConfig(node=NODE), FakeSource(spec), sink, runtime, clock=clock)
    sync(kubelet)
    runtime.answers = {"alive": 1, "ready": 0}  # not started yet: liveness must not count
    for _ in range(3):
        probe_round(kubelet, clock)
    c = container(sink)
    assert (c["started"], c["ready"], c["restartCount"]) == (False, False, 0)
    runtime.answers = {"started": 0, "alive": 0, "ready": 0}
    probe_round(kubelet, clock)
    probe_round(kubelet, clock)
    c = container(sink)
    assert (c["started"], c["ready"]) == (True, True)
    runtime.answers = {"started": 0, "alive": 1, "ready": 0}
    for _ in range(3):
        probe_round(kubelet, clock)
    assert ("kill", "c") in runtime.calls
    assert container(sink)["restartCount"] == 1
    kubelet.stop()


def test_pods_beyond_capacity_are_rejected_out_of_pods() -> None:
    small = NodeConfig("n1", "10.250.0.20", "10.244.1.0/24", Capacity(2000, 2**30, pods=1))
    clock = FakeClock()
    runtime = FakeRuntime(clock)
    sink = FakeSink()
    source = FakeSource(pod_dict(name="a", uid="u1"), pod_dict(name="b", uid="u2"))
    kubelet = Kubelet(KubeletConfig(node=small), source, sink, runtime, clock=clock)
    sync(kubelet)
    assert sink.statuses["a"]["phase"] == "Running"
    assert sink.statuses["b"] == {
        "phase": "Failed",
        "reason": "OutOfpods",
        "message": "Pod was rejected: Node didn't have enough resource: pods",
    }
    assert ("sandbox", "u2") not in runtime.calls
    source.items = [pod_dict(name="a", uid="u1")]
    sync(kubelet)
    assert sink.removed == ["b"]


def test_a_pod_the_kubelet_cannot_run_is_failed_with_the_field_named_once() -> None:
    clock = FakeClock()
    runtime = FakeRuntime(clock)
    sink = FakeSink()
    source = FakeSource(pod_dict(name="h", uid="u1", hostNetwork=True))
    kubelet = Kubelet(KubeletConfig(node=NODE), source, sink, runtime, clock=clock)
    sync(kubelet)
    status = sink.statuses["h"]
    assert (status["phase"], status["reason"]) == ("Failed", "UnsupportedPodSpec")
    assert status["message"].startswith("Pod was rejected: spec.hostNetwork: invalid value True")
    assert runtime.calls == []
    sink.statuses.clear()
    sync(kubelet)
    assert sink.statuses == {}  # reported once, not on every relist


class NoConfigRuntime(FakeRuntime):
    def create_sandbox(self, pod: PodSpec) -> None:
        raise ConfigError('configmap "cfg" not found')

    def start_container(self, pod: PodSpec, name: str, attempt: int) -> None:
        raise ConfigError('couldn\'t find key k in configmap "cfg"')


def test_missing_config_leaves_containers_waiting_with_the_reason() -> None:
    clock = FakeClock()
    sink = FakeSink()
    kubelet = Kubelet(
        KubeletConfig(node=NODE), FakeSource(pod_dict()), sink, NoConfigRuntime(clock), clock=clock
    )
    sync(kubelet)
    waiting = container(sink)["state"]["waiting"]
    assert waiting == {"reason": "ContainerCreating", "message": 'configmap "cfg" not found'}


def test_missing_env_key_is_create_container_config_error() -> None:
    clock = FakeClock()
    runtime = NoConfigRuntime(clock)
    runtime.sandboxes["u1"] = "10.244.0.2"  # the sandbox exists; the container cannot start
    sink = FakeSink()
    kubelet = Kubelet(KubeletConfig(node=NODE), FakeSource(pod_dict()), sink, runtime, clock=clock)
    sync(kubelet)
    assert container(sink)["state"]["waiting"]["reason"] == "CreateContainerConfigError"
    assert sink.statuses["p"]["phase"] == "Pending"


def test_failing_post_start_hook_kills_the_container() -> None:
    hook = {"postStart": {"exec": {"command": ["sh", "-c", "setup"]}}}
    clock = FakeClock()
    runtime = ScriptedRuntime(clock)
    runtime.answers = {"setup": 3}
    sink = FakeSink()
    spec = pod_dict({"name": "c", "image": "busybox", "lifecycle": hook})
    kubelet = Kubelet(KubeletConfig(node=NODE), FakeSource(spec), sink, runtime, clock=clock)
    sync(kubelet)
    assert runtime.calls[-2:] == [("start", "c", "0"), ("kill", "c")]
    runtime.answers = {"setup": 0}
    clock.now += 1
    sync(kubelet)
    assert runtime.calls[-1] == ("start", "c", "1")
    assert container(sink)["state"].get("running") is not None


def test_events_tell_the_story_of_a_crash_loop() -> None:
    kubelet, runtime, sink, _, clock = make(pod_dict())
    sync(kubelet)
    for _ in range(2):
        clock.now += 1
        runtime.finish("u1", "c", 1)
        sync(kubelet)
    reasons = [e["reason"] for e in sink.events]
    assert reasons[:3] == ["Pulled", "Created", "Started"]
    assert "BackOff" in reasons
    started = [e for e in sink.events if e["reason"] == "Started"]
    assert [e["count"] for e in started] == [1, 2]  # repeats aggregate into one series
    backoff = next(e for e in sink.events if e["reason"] == "BackOff")
    assert backoff["type"] == "Warning"
    assert backoff["involvedObject"]["name"] == "p"
    assert backoff["involvedObject"]["fieldPath"] == "spec.containers{c}"
    assert backoff["source"] == {"component": "kubelet", "host": "n1"}


def test_relists_reuse_parsed_pods_until_the_object_changes() -> None:
    p = pod_dict()
    p["metadata"]["resourceVersion"] = "5"
    kubelet, _, _, source, _ = make(p)
    kubelet.refresh()
    first = kubelet.pods["u1"]
    kubelet.refresh()
    assert kubelet.pods["u1"] is first  # same uid and resourceVersion: not parsed again
    changed = pod_dict(name="p")
    changed["metadata"]["resourceVersion"] = "6"
    changed["metadata"]["labels"] = {"a": "b"}
    source.items = [changed]
    kubelet.refresh()
    assert kubelet.pods["u1"] is not first
    assert kubelet.pods["u1"].raw["metadata"]["labels"] == {"a": "b"}


def test_every_loop_iteration_syncs_mirror_pods() -> None:
    class Mirrors:
        calls = 0

        def sync_mirrors(self) -> None:
            Mirrors.calls += 1

    clock = FakeClock()
    config = KubeletConfig(node=NODE)
    kubelet = Kubelet(
        config, FakeSource(pod_dict()), FakeSink(), FakeRuntime(clock), clock=clock,
        mirrors=Mirrors(),
    )  # fmt: skip
    kubelet.sync_all()
    kubelet.sync_all()
    kubelet.stop()
    assert Mirrors.calls == 2


def test_a_relist_does_not_queue_a_second_sync_of_a_pod_being_synced() -> None:
    kubelet, _runtime, _sink, _, _ = make(pod_dict())
    kubelet.refresh()
    kubelet._busy.add("u1")  # a worker is syncing u1 (its first sync: still settling)
    kubelet.sync_all()
    assert kubelet._again == set()  # the next relist takes it up if it is still settling
    kubelet.container_exited("u1")  # news the running sync may have missed: sync once more
    assert kubelet._again == {"u1"}
    kubelet._busy.discard("u1")
    kubelet._again.clear()
    kubelet.stop()


def test_idle_for_counts_from_the_end_of_the_last_sync() -> None:
    kubelet, _runtime, _sink, _, _ = make(pod_dict())
    kubelet.refresh()
    gate = threading.Event()
    real = kubelet.sync_pod

    def slow_sync(uid: str) -> None:
        gate.wait(5)
        real(uid)

    kubelet.sync_pod = slow_sync  # type: ignore[method-assign]
    kubelet._submit("u1")
    time.sleep(0.05)
    assert kubelet.idle_for() == 0.0  # a worker is syncing u1
    gate.set()
    wait_until(lambda: kubelet.idle_for() > 0.0, 5)
    time.sleep(0.05)
    assert kubelet.idle_for() >= 0.05
    kubelet.stop()


def relist_submits(kubelet: Kubelet) -> list[str]:
    """The pods a relist (`sync_all`) hands to the workers."""
    submitted: list[str] = []
    real = kubelet._submit
    kubelet._submit = lambda uid, remove=False, again=True: submitted.append(uid)  # type: ignore[method-assign]
    try:
        kubelet.sync_all()
    finally:
        kubelet._submit = real  # type: ignore[method-assign]
    return submitted


def test_a_start_that_left_nothing_to_do_is_not_synced_again_by_a_relist() -> None:
    kubelet, runtime, sink, _, _ = make(pod_dict())
    sync(kubelet)
    assert runtime.calls == [("sandbox", "u1"), ("start", "c", "0")]
    assert sink.statuses["p"]["phase"] == "Running"
    assert relist_submits(kubelet) == []


def test_a_pod_still_waiting_after_its_sync_is_synced_again_by_a_relist() -> None:
    kubelet, _, sink, _, _ = make(pod_dict({"name": "c", "image": "nope"}))
    sync(kubelet)
    assert container(sink)["state"]["waiting"]["reason"] == "ErrImagePull"
    assert relist_submits(kubelet) == ["u1"]


def test_a_pod_added_by_the_watch_starts_without_a_relist() -> None:
    kubelet, runtime, sink, source, _ = make()
    kubelet.refresh()  # the first relist (adoption) has run
    new = pod_dict()
    source.items = [new]
    kubelet.pod_added(new)
    wait_until(lambda: sink.statuses.get("p", {}).get("phase") == "Running", 5)
    assert runtime.calls == [("sandbox", "u1"), ("start", "c", "0")]
    wait_until(lambda: kubelet.idle_for() > 0.0, 5)  # the worker is done with it
    kubelet.pod_added(new)  # again (or after a relist found it): nothing more
    kubelet.refresh()
    kubelet.stop()
    assert runtime.calls == [("sandbox", "u1"), ("start", "c", "0")]


def test_an_invalid_pod_from_the_watch_is_left_to_the_relist() -> None:
    kubelet, runtime, _, _, _ = make()
    kubelet.refresh()
    kubelet.pod_added({"metadata": {"name": "bad", "uid": "u9"}, "spec": {"containers": []}})
    assert kubelet.pods == {}
    assert kubelet._wake.is_set()  # a relist will log it, once
    assert runtime.calls == []
