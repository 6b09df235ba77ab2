"""`kubectl logs` and `kubectl exec` through the apiserver of a `kubelab up` lab.

The apiserver proxies them to the kubelet of the pod's node over HTTPS, presenting its kubelet
client certificate, which the kubelet verifies against the cluster CA (`--client-ca-file`).
One lab (kvstore) for the whole module, from tests/e2e/lab/support.py.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.lab.support import Lab, pinned, running_lab
from tests.support import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.netns, pytest.mark.slow, pytest.mark.timeout(420)]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    if shutil.which("kubectl") is None:
        pytest.skip("needs kubectl")
    with running_lab(tmp_path_factory, tag="e", control_planes=1, nodes=1, store="kvstore") as (
        lab,
        _lan,
    ):
        yield lab


def busybox(name: str, script: str) -> dict[str, Any]:
    return {"name": name, "image": "busybox", "command": ["sh", "-c", script]}


@pytest.fixture(scope="module")
def pods(lab: Lab) -> Lab:
    """Two long-running pods on node-1: `two` (one container), `pair` (containers a and b)."""
    script = "for i in 1 2 3 4 5; do echo a-$i; done; exec sleep 600"
    lab.apply(pinned("two", "node-1", busybox("a", script)))
    pod = pinned("pair", "node-1", busybox("a", "echo from-a; exec sleep 600"))
    pod["spec"]["containers"].append(busybox("b", "echo from-b; exec sleep 600"))
    lab.apply(pod)
    lab.wait_phase("two", "Running")
    lab.wait_phase("pair", "Running")
    return lab


def test_logs_tail_and_container(pods: Lab) -> None:
    lab = pods

    def logged(*args: str) -> str:
        done = lab.kubectl("logs", *args, check=False)
        return done.stdout if done.returncode == 0 else ""

    out = wait_until(lambda: logged("two"), 20, interval=0.5, message="logs of two")
    assert out.splitlines() == [f"a-{i}" for i in range(1, 6)], lab.logs()
    assert lab.kubectl("logs", "two", "--tail=2").stdout.splitlines() == ["a-4", "a-5"]
    assert wait_until(lambda: logged("pair", "-c", "b"), 20, interval=0.5) == "from-b\n"
    assert lab.kubectl("logs", "pair", "-c", "a").stdout == "from-a\n"
    # No container named: kubectl picks the first one.
    assert lab.kubectl("logs", "pair").stdout == "from-a\n"
    bad = lab.kubectl("logs", "pair", "-c", "nope", check=False)
    assert bad.returncode != 0
    assert "nope" in bad.stderr


def test_logs_follow_until_the_container_exits(lab: Lab) -> None:
    script = "for i in $(seq 1 12); do echo tick-$i; sleep 0.25; done"
    lab.apply(pinned("ticker", "node-1", busybox("t", script), restartPolicy="Never"))
    lab.wait_phase("ticker", "Running")
    done = lab.kubectl("logs", "-f", "ticker")
    assert done.stdout.splitlines() == [f"tick-{i}" for i in range(1, 13)], done.stderr


def test_logs_previous_after_a_restart(pods: Lab) -> None:
    lab = pods
    script = "echo run-$(date +%s%N); echo done; exit 1"
    lab.apply(pinned("crash", "node-1", busybox("c", script)))

    def restarted() -> bool:
        statuses = lab.pod("crash").get("status", {}).get("containerStatuses") or []
        return bool(statuses) and statuses[0].get("restartCount", 0) >= 1

    wait_until(restarted, 60, interval=0.5, message="crash restarted")
    prev = lab.kubectl("logs", "crash", "--previous").stdout
    assert prev.startswith("run-")
    assert prev.endswith("done\n")
    never = lab.kubectl("logs", "two", "--previous", check=False)
    assert never.returncode != 0
    assert "previous terminated container" in never.stderr


def test_kubelet_refuses_anonymous_clients(lab: Lab) -> None:
    """The kubelet's :10250 answers 401 without a certificate or token (from the host)."""
    if shutil.which("curl") is None:
        pytest.skip("needs curl")
    ip = f"{lab.lan_prefix}20"
    done = subprocess.run(
        ["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", f"https://{ip}:10250/pods"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert done.stdout == "401", done.stderr


def test_exec_runs_commands_and_propagates_exit_codes(pods: Lab) -> None:
    lab = pods
    assert lab.kubectl("exec", "two", "--", "echo", "hello", "world").stdout == "hello world\n"
    assert lab.kubectl("exec", "pair", "-c", "b", "--", "sh", "-c", "echo $((6*7))").stdout == (
        "42\n"
    )
    failed = lab.kubectl("exec", "two", "--", "sh", "-c", "exit 3", check=False)
    assert failed.returncode == 3, failed.stderr
    missing = lab.kubectl("exec", "two", "--", "no-such-command", check=False)
    assert missing.returncode != 0


def test_exec_with_piped_stdin(pods: Lab) -> None:
    lab = pods
    done = lab.kubectl(
        "exec", "-i", "two", "--", "sh", "-c", "tr a-z A-Z; exit 5", stdin="abc\n", check=False
    )
    assert done.returncode == 5, done.stderr
    assert done.stdout == "ABC\n"


def test_exec_streams_output_before_the_command_ends(pods: Lab) -> None:
    lab = pods
    script = "echo first; sleep 1; echo second >&2; sleep 1; echo third"
    done = lab.kubectl("exec", "two", "--", "sh", "-c", script)
    assert done.stdout == "first\nthird\n"
    assert "second" in done.stderr


def test_exec_interactive_tty(pods: Lab) -> None:
    lab = pods
    """`kubectl exec -it POD -- sh` under `script`, which gives kubectl a terminal."""
    if shutil.which("script") is None:
        pytest.skip("needs script (util-linux)")
    kubectl = f"kubectl --kubeconfig {lab.kubeconfig} exec -it two -- sh"
    typed = "test -t 0 && echo is-a-$((6*7))-tty\nexit 4\n"
    done = subprocess.run(
        ["script", "-qec", kubectl, "/dev/null"],
        input=typed,
        capture_output=True,
        text=True,
        env=lab.env(),
        timeout=60,
    )
    assert "is-a-42-tty" in done.stdout, done.stdout + done.stderr
    assert done.returncode == 4, done.stdout + done.stderr
