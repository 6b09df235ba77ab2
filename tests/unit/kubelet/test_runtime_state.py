"""The process runtime's view of containers from its files (no processes started)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from node_agent.kubelet.cgroups import Cgroups
from node_agent.kubelet.env import NoConfig
from node_agent.kubelet.network import Sandbox
from node_agent.kubelet.runtime import ProcessRuntime, _proc_start
from tests.unit.kubelet.factories import pod

UID = "u1"


class FakeNetwork:
    def setup(self, uid: str) -> Sandbox:
        return Sandbox(f"ns-{uid}", "10.244.1.2", "veth0")

    def teardown(self, uid: str) -> None:
        pass

    def sandbox_for(self, uid: str) -> Sandbox | None:
        return Sandbox(f"ns-{uid}", "10.244.1.2", "veth0")

    def pod_uids(self) -> set[str]:
        return set()


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[ProcessRuntime]:
    rt = ProcessRuntime(
        tmp_path, FakeNetwork(), Cgroups("kubelab-test", root=tmp_path / "nocgroup"), NoConfig()
    )
    try:
        yield rt
    finally:
        rt.close()


def write(path: Path, data: Mapping[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def test_a_shim_the_kubelet_never_recorded_is_seen_running(runtime: ProcessRuntime) -> None:
    run_dir = runtime.pod_dir(UID) / "containers" / "c" / "0"
    me = {"shimPid": os.getpid(), "shimStart": _proc_start(os.getpid()), "startedAt": 100.0}
    write(run_dir / "shim.json", me)  # no run.json: the kubelet died right after the fork
    observed = runtime.observe(pod())
    run = observed.runs["c"]
    assert run.running
    assert run.attempt == 0
    assert run.started_at == 100.0


def test_exit_file_and_vanished_shims(runtime: ProcessRuntime) -> None:
    base = runtime.pod_dir(UID) / "containers" / "c"
    gone = {"id": "a", "startedAt": 100.0, "shimPid": 999999999, "shimStart": "1"}
    write(base / "0" / "run.json", gone)
    write(base / "0" / "exit.json", {"exitCode": 3, "finishedAt": 150.0, "oomKilled": False})
    write(base / "1" / "run.json", {**gone, "id": "b", "startedAt": 160.0})  # no exit file
    observed = runtime.observe(pod())
    latest, previous = observed.runs["c"], observed.previous["c"]
    assert (previous.exit_code, previous.finished_at) == (3, 150.0)
    assert latest.attempt == 1
    assert latest.exit_code == 137  # killed without a word: recorded once, stays put
    again = runtime.observe(pod()).runs["c"]
    assert again.finished_at == latest.finished_at
