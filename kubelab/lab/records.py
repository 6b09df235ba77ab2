"""The supervisor's records on disk, shared by the daemon (writer) and the CLI (reader).

Layout under the lab's supervisor dir:
- `supervisor.json`: the daemon's own identity (pid + start time);
- `processes.json`: every supervised process: its spec (argv, netns, restart policy), state,
  identity, restart count, last exit code, log path.

Both are replaced atomically (write + rename), so a reader sees a whole file or the previous
one, and they stay valid after a crash: a later CLI finds and stops whatever is recorded, after
checking each identity (kubelab.lab.procs), even when the daemon itself was killed.

The daemon listens on an abstract unix socket named after the state dir: no path-length limit,
nothing to clean up, and a second daemon for the same lab cannot bind it.
"""

from __future__ import annotations

import enum
import hashlib
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubelab.lab.plan import ProcessSpec, Restart
from kubelab.lab.procs import ProcessIdentity

DAEMON_FILE = "supervisor.json"
PROCESSES_FILE = "processes.json"


class ProcState(enum.Enum):
    RUNNING = "running"
    BACKOFF = "backoff"  # exited; will be restarted after a delay
    EXITED = "exited"  # exited; the restart policy says leave it
    STOPPED = "stopped"  # stopped on request


@dataclass(frozen=True)
class ProcessRecord:
    spec: ProcessSpec
    state: ProcState
    log: str
    ident: ProcessIdentity | None = None
    started_at: float | None = None  # wall clock, for uptime
    restarts: int = 0
    last_exit: int | None = None

    @property
    def key(self) -> str:
        return self.spec.key


def socket_address(state_dir: Path) -> str:
    digest = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:24]
    return f"\0kubelab-supervisor-{digest}"


def read_line(sock: socket.socket) -> bytes:
    """One request or answer of the supervisor's protocol: bytes up to a newline (or EOF)."""
    buf = bytearray()
    while not buf.endswith(b"\n"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def spec_to_dict(spec: ProcessSpec) -> dict[str, Any]:
    return {
        "machine": spec.machine,
        "name": spec.name,
        "argv": list(spec.argv),
        "netns": spec.netns,
        "restart": spec.restart.value,
    }


def spec_from_dict(data: dict[str, Any]) -> ProcessSpec:
    return ProcessSpec(
        machine=str(data["machine"]),
        name=str(data["name"]),
        argv=tuple(str(a) for a in data["argv"]),
        netns=None if data.get("netns") is None else str(data["netns"]),
        restart=Restart(data.get("restart", Restart.ALWAYS.value)),
    )


def ident_to_dict(ident: ProcessIdentity | None) -> dict[str, Any] | None:
    return None if ident is None else {"pid": ident.pid, "start_time": ident.start_time}


def ident_from_dict(data: dict[str, Any] | None) -> ProcessIdentity | None:
    if not data:
        return None
    return ProcessIdentity(int(data["pid"]), float(data["start_time"]))


def record_to_dict(rec: ProcessRecord) -> dict[str, Any]:
    return {
        "spec": spec_to_dict(rec.spec),
        "state": rec.state.value,
        "log": rec.log,
        "ident": ident_to_dict(rec.ident),
        "started_at": rec.started_at,
        "restarts": rec.restarts,
        "last_exit": rec.last_exit,
    }


def record_from_dict(data: dict[str, Any]) -> ProcessRecord:
    return ProcessRecord(
        spec=spec_from_dict(data["spec"]),
        state=ProcState(data["state"]),
        log=str(data["log"]),
        ident=ident_from_dict(data.get("ident")),
        started_at=data.get("started_at"),
        restarts=int(data.get("restarts", 0)),
        last_exit=data.get("last_exit"),
    )


def write_json(path: Path, data: Any) -> None:
    """Replace `path` atomically with `data` as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    """The JSON in `path`, or None when it does not exist."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def read_processes(state_dir: Path) -> list[ProcessRecord]:
    data = read_json(state_dir / PROCESSES_FILE)
    if not data:
        return []
    return [record_from_dict(item) for item in data.get("processes", [])]


def write_processes(state_dir: Path, records: list[ProcessRecord]) -> None:
    write_json(state_dir / PROCESSES_FILE, {"processes": [record_to_dict(r) for r in records]})


def read_daemon(state_dir: Path) -> ProcessIdentity | None:
    return ident_from_dict(read_json(state_dir / DAEMON_FILE))


def write_daemon(state_dir: Path, ident: ProcessIdentity) -> None:
    write_json(state_dir / DAEMON_FILE, ident_to_dict(ident))
