"""Talking to a lab's supervisor daemon, and stopping a lab's processes without it (edge).

`SupervisorClient.ensure_running()` starts `python -m kubelab.lab.supervisor` for a lab in its
own session, so the daemon and its processes outlive the CLI that started them. Requests go over
the daemon's abstract unix socket (kubelab.lab.records.socket_address).

`stop_recorded()` is what `kubelab stop`/`down` call: ask the daemon to shut down when it
answers; otherwise (killed, crashed) stop the recorded daemon and every recorded process by
identity, so nothing is orphaned and nothing that merely reuses a recorded PID is touched.
"""

from __future__ import annotations

import json
import logging
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubelab.lab import procs
from kubelab.lab.errors import SupervisorError
from kubelab.lab.plan import ProcessSpec
from kubelab.lab.records import (
    ProcessRecord,
    read_daemon,
    read_line,
    read_processes,
    record_from_dict,
    socket_address,
    spec_to_dict,
)
from kubelab.lab.restart import Backoff

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DaemonOptions:
    grace: float = 5.0
    backoff: Backoff = field(default_factory=Backoff)


class SupervisorClient:
    def __init__(
        self,
        state_dir: Path,
        logs_dir: Path,
        *,
        python: str = sys.executable,
        options: DaemonOptions | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.logs_dir = logs_dir
        self.python = python
        self.options = options or DaemonOptions()

    def request(self, op: str, timeout: float = 60.0, **fields: Any) -> dict[str, Any]:
        """One request; raises SupervisorError when the daemon is unreachable or refuses."""
        payload = json.dumps({"op": op, **fields}).encode() + b"\n"
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(timeout)
                sock.connect(socket_address(self.state_dir))
                sock.sendall(payload)
                buf = read_line(sock)
        except OSError as exc:
            raise SupervisorError(
                f"supervisor for {self.state_dir} is not reachable: {exc}"
            ) from exc
        if not buf:
            raise SupervisorError(f"supervisor for {self.state_dir} closed the connection")
        response: dict[str, Any] = json.loads(bytes(buf))
        if not response.get("ok"):
            raise SupervisorError(f"supervisor refused {op}: {response.get('error')}")
        return response

    def alive(self) -> bool:
        try:
            self.request("ping", timeout=2.0)
        except SupervisorError:
            return False
        return True

    def ensure_running(self, timeout: float = 15.0) -> None:
        """Start the daemon unless it already answers; return once it answers."""
        if self.alive():
            return
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        b = self.options.backoff
        argv = [
            self.python, "-m", "kubelab.lab.supervisor",
            "--state-dir", str(self.state_dir),
            "--logs-dir", str(self.logs_dir),
            "--grace", str(self.options.grace),
            "--backoff-base", str(b.base),
            "--backoff-cap", str(b.cap),
            "--stable-after", str(b.stable_after),
        ]  # fmt: skip
        with (self.logs_dir / "supervisor.log").open("ab") as out:
            daemon = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
                cwd=self.state_dir,  # not the CLI's directory, which may go away
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.alive():
                return
            if daemon.poll() is not None and not self.alive():
                raise SupervisorError(
                    f"supervisor exited {daemon.returncode}; see {self.logs_dir / 'supervisor.log'}"
                )
            time.sleep(0.05)
        raise SupervisorError(f"supervisor did not answer within {timeout}s")

    def start(self, spec: ProcessSpec) -> ProcessRecord:
        return record_from_dict(self.request("start", process=spec_to_dict(spec))["process"])

    def stop(self, key: str) -> ProcessRecord:
        return record_from_dict(self.request("stop", key=key)["process"])

    def remove(self, key: str) -> None:
        """Stop `key` (if running) and drop it from the supervisor's records."""
        self.request("remove", key=key)

    def status(self) -> list[ProcessRecord]:
        return [record_from_dict(p) for p in self.request("status")["processes"]]

    def shutdown(self, timeout: float = 120.0) -> None:
        """Stop every process, then the daemon; return once the daemon has exited."""
        daemon = read_daemon(self.state_dir)
        self.request("shutdown", timeout=timeout)
        if daemon is not None:
            deadline = time.monotonic() + 10.0
            while procs.is_running(daemon) and time.monotonic() < deadline:
                time.sleep(0.02)


def stop_recorded(state_dir: Path, logs_dir: Path, *, grace: float = 5.0) -> list[str]:
    """Stop a lab's supervisor and every process it recorded; return the keys that were running.

    Works whether the daemon answers, hangs or is gone. Only processes whose PID still has the
    recorded start time are signalled.
    """
    client = SupervisorClient(state_dir, logs_dir)
    records = read_processes(state_dir)
    running = {r.key for r in records if r.ident is not None and procs.is_running(r.ident)}
    if client.alive():
        try:
            client.shutdown()
        except SupervisorError as exc:
            log.warning("supervisor shutdown failed state_dir=%s error=%s", state_dir, exc)
    daemon = read_daemon(state_dir)
    if daemon is not None and procs.is_running(daemon):
        # It did not answer: stop it first, so it cannot restart what we stop next.
        procs.terminate(daemon, grace=grace)
    # Records of a daemon that shut down cleanly carry no identities; the earlier read may
    # (e.g. the daemon died mid-shutdown), so both are consulted.
    live: dict[procs.ProcessIdentity, str] = {}
    for rec in [*read_processes(state_dir), *records]:
        if rec.ident is not None and procs.is_running(rec.ident):
            live.setdefault(rec.ident, rec.key)
    for ident in live:  # all at once: the whole stop takes about one grace period
        procs.send_signal(ident, signal.SIGTERM)
    for ident in live:
        procs.terminate(ident, grace=grace)
    return sorted(running | set(live.values()))
