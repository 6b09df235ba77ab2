"""The supervisor daemon with real processes in real network namespaces (root)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubelab.lab import procs
from kubelab.lab.plan import ProcessSpec, Restart
from kubelab.lab.records import ProcState, read_daemon, read_processes
from kubelab.lab.restart import Backoff
from kubelab.lab.supervisor_client import DaemonOptions, SupervisorClient, stop_recorded
from tests.support import wait_until
from tests.support.netns import NetnsFactory

pytestmark = [pytest.mark.netns, pytest.mark.timeout(60)]

SLEEPER = (sys.executable, "-c", "import time; print('hello', flush=True); time.sleep(300)")
OPTIONS = DaemonOptions(grace=2.0, backoff=Backoff(base=0.1, cap=1.0, stable_after=5.0))


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    state, logs = tmp_path / "supervisor", tmp_path / "logs"
    try:
        yield state, logs
    finally:
        stop_recorded(state, logs, grace=2.0)
        for rec in read_processes(state):
            assert rec.ident is None or not procs.is_running(rec.ident), rec


def client_for(lab: tuple[Path, Path]) -> SupervisorClient:
    return SupervisorClient(*lab, options=OPTIONS)


def net_inode(pid: int) -> int:
    return os.stat(f"/proc/{pid}/ns/net").st_ino


def running(client: SupervisorClient, key: str) -> procs.ProcessIdentity | None:
    for rec in client.status():
        if rec.key == key and rec.state is ProcState.RUNNING and rec.ident is not None:
            return rec.ident
    return None


def test_process_runs_in_its_netns_and_logs_to_its_file(
    lab: tuple[Path, Path], netns: NetnsFactory
) -> None:
    ns = netns("m1")
    client = client_for(lab)
    client.ensure_running()
    rec = client.start(ProcessSpec(machine="cp-1", name="sleeper", argv=SLEEPER, netns=ns))
    assert rec.ident is not None
    pid, want = rec.ident.pid, os.stat(f"/run/netns/{ns}").st_ino
    wait_until(lambda: net_inode(pid) == want, 10, message="process in its netns")
    assert procs.identify(pid) == rec.ident  # `ip netns exec` execs in place: same identity
    log_file = lab[1] / "cp-1" / "sleeper.log"
    wait_until(lambda: "hello" in log_file.read_text(), 10, message="output in the log")
    # The supervisor runs in the host namespace, in a session of its own.
    daemon = read_daemon(lab[0])
    assert daemon is not None
    assert net_inode(daemon.pid) == net_inode(os.getpid())
    assert os.getsid(daemon.pid) == daemon.pid


def test_a_process_that_dies_is_reported_and_restarted(lab: tuple[Path, Path]) -> None:
    client = client_for(lab)
    client.ensure_running()
    first = client.start(ProcessSpec(machine="host", name="sleeper", argv=SLEEPER)).ident
    assert first is not None
    os.kill(first.pid, signal.SIGKILL)

    def restarted() -> procs.ProcessIdentity | None:
        now = running(client, "host/sleeper")
        return now if now is not None and now != first else None

    second = wait_until(restarted, 10, message="restart")
    assert second is not None
    assert procs.is_running(second)
    [rec] = client.status()
    assert rec.restarts == 1
    assert rec.last_exit == -signal.SIGKILL
    assert "exited code=-9; restart in" in (lab[1] / "host" / "sleeper.log").read_text()


def test_restart_policy_never_reports_and_leaves_it(lab: tuple[Path, Path]) -> None:
    client = client_for(lab)
    client.ensure_running()
    argv = (sys.executable, "-c", "raise SystemExit(3)")
    client.start(ProcessSpec(machine="host", name="once", argv=argv, restart=Restart.NEVER))
    rec = wait_until(
        lambda: [r for r in client.status() if r.state is ProcState.EXITED], 10, message="exit"
    )[0]
    assert rec.last_exit == 3
    assert rec.restarts == 0


def test_processes_outlive_the_cli_and_a_later_cli_stops_them_all(
    lab: tuple[Path, Path], netns: NetnsFactory
) -> None:
    ns = netns("m2")
    state, logs = lab
    # A short-lived "CLI" process starts the daemon and two processes, then exits.
    script = f"""
import sys
from pathlib import Path
from kubelab.lab.plan import ProcessSpec
from kubelab.lab.supervisor_client import SupervisorClient
c = SupervisorClient(Path({str(state)!r}), Path({str(logs)!r}))
c.ensure_running()
c.start(ProcessSpec(machine="cp-1", name="a", argv={SLEEPER!r}, netns={ns!r}))
c.start(ProcessSpec(machine="cp-1", name="b", argv={SLEEPER!r}, netns={ns!r}))
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=30)
    records = read_processes(state)
    idents = [r.ident for r in records if r.ident is not None]
    daemon = read_daemon(state)
    assert len(idents) == 2
    assert daemon is not None
    assert all(procs.is_running(i) for i in [*idents, daemon])

    stopped = stop_recorded(state, logs, grace=2.0)

    assert not procs.is_running(daemon)
    assert not any(procs.is_running(i) for i in idents)
    assert stopped == ["cp-1/a", "cp-1/b"]
    assert subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout == ""


def test_after_kill_9_of_the_supervisor_its_processes_are_adopted_or_stopped(
    lab: tuple[Path, Path],
) -> None:
    state, logs = lab
    client = client_for(lab)
    client.ensure_running()
    ident = client.start(ProcessSpec(machine="host", name="sleeper", argv=SLEEPER)).ident
    daemon = read_daemon(state)
    assert ident is not None
    assert daemon is not None
    os.kill(daemon.pid, signal.SIGKILL)
    wait_until(lambda: not procs.is_running(daemon), 10)
    assert procs.is_running(ident)  # the process survives its supervisor

    # A new daemon adopts it rather than starting a second copy.
    client.ensure_running()
    assert running(client, "host/sleeper") == ident
    new_daemon = read_daemon(state)
    assert new_daemon is not None
    os.kill(new_daemon.pid, signal.SIGKILL)
    wait_until(lambda: not procs.is_running(new_daemon), 10)

    # Without any daemon, the records are enough to stop it.
    assert stop_recorded(state, logs, grace=2.0) == ["host/sleeper"]
    assert not procs.is_running(ident)


def test_a_reused_pid_is_never_signalled() -> None:
    victim = subprocess.Popen([*SLEEPER], stdout=subprocess.DEVNULL)
    try:
        real = procs.identify(victim.pid)
        assert real is not None
        stale = procs.ProcessIdentity(victim.pid, real.start_time - 100.0)
        assert not procs.is_running(stale)
        procs.terminate(stale, grace=0.5)
        assert victim.poll() is None
    finally:
        victim.kill()
        victim.wait()
