"""The lab's supervisor: a long-lived daemon that owns every process of one lab.

`python -m kubelab.lab.supervisor --state-dir DIR --logs-dir DIR` runs it; the CLI starts it in
its own session (so it outlives the CLI) and talks to it through `SupervisorClient`
(kubelab.lab.supervisor_client). Like an init system it starts processes (inside a network
namespace when asked), appends their output to `<logs>/<machine>/<process>.log`, notices when
one dies, reports it in the log and in its records, and restarts it with back-off
(kubelab.lab.restart). Every change is written to the records (kubelab.lab.records) at once.

If the daemon itself is killed, its processes keep running; a new daemon for the same state dir
adopts those still alive (same PID and start time) and restarts the rest. SIGTERM or a
`shutdown` request stops every process (SIGTERM, then SIGKILL after the grace) and exits.

Requests are one JSON object per connection: {"op": "ping" | "status" | "start" | "stop" |
"remove" | "shutdown", ...}; the answer is {"ok": true, ...} or {"ok": false, "error": "..."}.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from kubelab.lab import procs
from kubelab.lab.plan import ProcessSpec
from kubelab.lab.records import (
    DAEMON_FILE,
    ProcessRecord,
    ProcState,
    read_line,
    read_processes,
    record_to_dict,
    socket_address,
    spec_from_dict,
    write_daemon,
    write_processes,
)
from kubelab.lab.restart import Backoff, should_restart

log = logging.getLogger(__name__)
TICK = 0.1


@dataclass
class _Entry:
    """Mutable bookkeeping for one process; `record()` is its immutable view."""

    spec: ProcessSpec
    log_path: Path
    state: ProcState = ProcState.STOPPED
    popen: subprocess.Popen[bytes] | None = None
    ident: procs.ProcessIdentity | None = None
    started_mono: float = 0.0
    started_wall: float | None = None
    restarts: int = 0
    streak: int = 0
    next_start: float = 0.0
    last_exit: int | None = None

    def record(self) -> ProcessRecord:
        return ProcessRecord(
            spec=self.spec,
            state=self.state,
            log=str(self.log_path),
            ident=self.ident,
            started_at=self.started_wall,
            restarts=self.restarts,
            last_exit=self.last_exit,
        )


class Supervisor:
    def __init__(
        self,
        state_dir: Path,
        logs_dir: Path,
        *,
        backoff: Backoff | None = None,
        grace: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.state_dir = state_dir
        self.logs_dir = logs_dir
        self.backoff = backoff or Backoff()
        self.grace = grace
        self.clock = clock
        self.wall = wall
        self.entries: dict[str, _Entry] = {}

    # -- records -------------------------------------------------------------------------

    def save(self) -> None:
        write_processes(self.state_dir, [e.record() for e in self.entries.values()])

    def adopt(self) -> None:
        """Take over the processes a previous daemon recorded: keep the live, restart the rest."""
        for rec in read_processes(self.state_dir):
            entry = _Entry(spec=rec.spec, log_path=Path(rec.log), restarts=rec.restarts)
            self.entries[rec.key] = entry
            if rec.state is ProcState.STOPPED or rec.state is ProcState.EXITED:
                entry.state = rec.state
                entry.last_exit = rec.last_exit
            elif rec.ident is not None and procs.is_running(rec.ident):
                entry.state = ProcState.RUNNING
                entry.ident = rec.ident
                entry.started_wall = rec.started_at
                entry.started_mono = self.clock() - max(0.0, self.wall() - (rec.started_at or 0))
                log.info("adopted process=%s pid=%d", rec.key, rec.ident.pid)
            else:
                self._launch(entry)
        self.save()

    # -- actions -------------------------------------------------------------------------

    def _log_line(self, entry: _Entry, text: str) -> None:
        entry.log_path.parent.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.wall()))
        with entry.log_path.open("a") as out:
            out.write(f"--- kubelab-supervisor {stamp}Z {text}\n")

    def _launch(self, entry: _Entry) -> None:
        spec = entry.spec
        self._log_line(entry, f"start argv={json.dumps(list(spec.argv))} netns={spec.netns}")
        try:
            popen = procs.spawn(spec.argv, netns=spec.netns, log_path=entry.log_path)
        except OSError as exc:
            log.error("cannot start process=%s error=%s", spec.key, exc)
            self._log_line(entry, f"cannot start: {exc}")
            self._exited(entry, -1)
            return
        entry.popen = popen
        entry.ident = procs.identify(popen.pid) or procs.ProcessIdentity(popen.pid, 0.0)
        entry.state = ProcState.RUNNING
        entry.started_mono = self.clock()
        entry.started_wall = self.wall()
        log.info("started process=%s pid=%d netns=%s", spec.key, popen.pid, spec.netns)

    def _exited(self, entry: _Entry, returncode: int | None) -> None:
        ran_for = self.clock() - entry.started_mono
        entry.popen = None
        entry.ident = None
        entry.last_exit = returncode
        # An adopted process's exit code is unknown: treat it as a failure.
        code = -1 if returncode is None else returncode
        if should_restart(entry.spec.restart, code):
            entry.streak = self.backoff.next_streak(entry.streak, ran_for)
            delay = self.backoff.delay(entry.streak)
            entry.state = ProcState.BACKOFF
            entry.next_start = self.clock() + delay
            log.warning(
                "process exited process=%s code=%s restart_in=%.1fs", entry.spec.key, code, delay
            )
            self._log_line(entry, f"exited code={code}; restart in {delay:.1f}s")
        else:
            entry.state = ProcState.EXITED
            log.warning("process exited process=%s code=%s (not restarted)", entry.spec.key, code)
            self._log_line(
                entry, f"exited code={code}; not restarted (restart={entry.spec.restart.value})"
            )

    def start(self, spec: ProcessSpec) -> ProcessRecord:
        """Start `spec` (replacing a process with the same key)."""
        if spec.key in self.entries:
            self.stop(spec.key)
        entry = _Entry(spec=spec, log_path=self.logs_dir / spec.machine / f"{spec.name}.log")
        self.entries[spec.key] = entry
        self._launch(entry)
        self.save()
        return entry.record()

    def stop(self, key: str) -> ProcessRecord:
        entry = self.entries[key]
        if entry.ident is not None:
            popen = entry.popen
            procs.terminate(entry.ident, grace=self.grace, reap=popen.poll if popen else None)
            if popen is not None:
                entry.last_exit = popen.poll()
            self._log_line(entry, "stopped on request")
        entry.state = ProcState.STOPPED
        entry.popen = None
        entry.ident = None
        self.save()
        return entry.record()

    def stop_all(self) -> None:
        """Stop every process; all get SIGTERM at once, so the whole takes about one grace."""
        for entry in self.entries.values():
            if entry.ident is not None:
                procs.send_signal(entry.ident, signal.SIGTERM)
        for key in reversed(list(self.entries)):
            self.stop(key)

    def tick(self) -> None:
        """Notice exits and restart what is due; save if anything changed."""
        changed = False
        now = self.clock()
        for entry in self.entries.values():
            if entry.state is ProcState.RUNNING:
                if entry.popen is not None:
                    code = entry.popen.poll()
                    if code is not None:
                        self._exited(entry, code)
                        changed = True
                elif entry.ident is not None and not procs.is_running(entry.ident):
                    self._exited(entry, None)
                    changed = True
            elif entry.state is ProcState.BACKOFF and now >= entry.next_start:
                entry.restarts += 1
                self._launch(entry)
                changed = True
        if changed:
            self.save()

    # -- requests ------------------------------------------------------------------------

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = str(request.get("op"))
        handler = {
            "ping": self._op_ping,
            "status": self._op_status,
            "start": self._op_start,
            "stop": self._op_stop,
            "shutdown": self._op_shutdown,
            "remove": self._op_remove,
        }.get(op)
        if handler is None:
            return {"ok": False, "error": f"unknown op {op!r}"}
        return handler(request)

    def _op_ping(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "pid": os.getpid()}

    def _op_status(self, request: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "processes": [record_to_dict(e.record()) for e in self.entries.values()],
        }

    def _op_start(self, request: dict[str, Any]) -> dict[str, Any]:
        rec = self.start(spec_from_dict(request["process"]))
        return {"ok": True, "process": record_to_dict(rec)}

    def _op_stop(self, request: dict[str, Any]) -> dict[str, Any]:
        key = str(request.get("key"))
        if key not in self.entries:
            return {"ok": False, "error": f"no process {key!r}"}
        return {"ok": True, "process": record_to_dict(self.stop(key))}

    def _op_remove(self, request: dict[str, Any]) -> dict[str, Any]:
        """Stop a process and forget it (its machine was removed from the lab)."""
        key = str(request.get("key"))
        if key in self.entries:
            self.stop(key)
            del self.entries[key]
            self.save()
        return {"ok": True}

    def _op_shutdown(self, request: dict[str, Any]) -> dict[str, Any]:
        self.stop_all()
        return {"ok": True}


def serve(sup: Supervisor, sock: socket.socket, *, should_stop: Callable[[], bool]) -> None:
    """Answer requests and tick until a `shutdown` request or `should_stop()`."""
    sock.settimeout(TICK)
    while not should_stop():
        sup.tick()
        try:
            conn, _ = sock.accept()
        except TimeoutError:
            continue
        with conn:
            conn.settimeout(5.0)
            request: Any = None
            try:
                request = json.loads(read_line(conn))
                response = sup.handle(request)
            except Exception as exc:  # one bad request must not take the daemon down
                log.exception("bad request")
                response = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            with contextlib.suppress(OSError):
                conn.sendall(json.dumps(response).encode() + b"\n")
            if response.get("ok") and isinstance(request, dict) and request.get("op") == "shutdown":
                return


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kubelab.lab.supervisor")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--logs-dir", type=Path, required=True)
    parser.add_argument("--grace", type=float, default=5.0, help="seconds from SIGTERM to SIGKILL")
    parser.add_argument("--backoff-base", type=float, default=Backoff.base)
    parser.add_argument("--backoff-cap", type=float, default=Backoff.cap)
    parser.add_argument("--stable-after", type=float, default=Backoff.stable_after)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    state_dir: Path = args.state_dir
    state_dir.mkdir(parents=True, exist_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(socket_address(state_dir))
    except OSError:
        log.error("another supervisor already serves state_dir=%s", state_dir)
        return 1
    sock.listen(16)
    terminated = False

    def on_term(signum: int, frame: FrameType | None) -> None:
        nonlocal terminated
        terminated = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    me = procs.identify(os.getpid())
    assert me is not None
    write_daemon(state_dir, me)
    sup = Supervisor(
        state_dir,
        args.logs_dir,
        backoff=Backoff(args.backoff_base, args.backoff_cap, args.stable_after),
        grace=args.grace,
    )
    sup.adopt()
    log.info("supervisor up pid=%d state_dir=%s", os.getpid(), state_dir)
    serve(sup, sock, should_stop=lambda: terminated)
    if terminated:
        sup.stop_all()
    (state_dir / DAEMON_FILE).unlink(missing_ok=True)
    log.info("supervisor down pid=%d", os.getpid())
    return 0


if __name__ == "__main__":
    sys.exit(main())
