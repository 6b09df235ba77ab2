"""Processes by identity: spawn one, tell whether it still runs, stop it (edge).

A PID alone does not name a process: after it exits the kernel may hand the same number to an
unrelated process. A `ProcessIdentity` is the PID plus the process's start time (psutil's
create_time); every signal is sent only after checking that the PID still has that start time,
so a stale record can never kill somebody else's process.

Spawned processes get their own session (`start_new_session`), so they outlive whoever
started them and can be stopped as a group. A process that should live in a network namespace
is started through `nsenter --net=/run/netns/NS`, which execs in place: the PID is the
process's own.

Every lab process gets the environment `lab_env()` makes from the caller's: glibc's malloc
limited to two arenas (MALLOC_ARENA_MAX=2). By default glibc gives each thread that allocates
an arena of its own (up to 8 per core); a gRPC process has a dozen threads, and every arena keeps
some freed memory resident. The lab's processes are not bound by malloc contention.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

log = logging.getLogger(__name__)

# create_time has the kernel's tick resolution (10 ms); a PID reused within that window by
# another process is not a practical concern.
_START_TIME_TOLERANCE = 0.05


@dataclass(frozen=True)
class ProcessIdentity:
    pid: int
    start_time: float


def identify(pid: int) -> ProcessIdentity | None:
    """The identity of the live process `pid`, or None if there is none."""
    try:
        return ProcessIdentity(pid, psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def is_running(ident: ProcessIdentity) -> bool:
    """True while the process `ident` names exists and has not exited (zombies count as gone)."""
    try:
        proc = psutil.Process(ident.pid)
        if abs(proc.create_time() - ident.start_time) > _START_TIME_TOLERANCE:
            return False
        return proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


# Settings the lab adds to every process's environment, unless the caller already set them.
LAB_ENV = {"MALLOC_ARENA_MAX": "2"}


def lab_env(base: Mapping[str, str]) -> dict[str, str]:
    """The environment for a lab process: `base` plus LAB_ENV where `base` does not say."""
    return {**LAB_ENV, **base}


def netns_argv(argv: Sequence[str], netns: str | None) -> list[str]:
    """`argv` run inside network namespace `netns` (None: where we are)."""
    if netns is None:
        return list(argv)
    # nsenter rather than `ip netns exec`: the latter gives the process a private mount
    # namespace, which would hide the pod namespaces a kubelet mounts under /run/netns from
    # the host (and from `kubelab down`).
    return ["nsenter", f"--net=/run/netns/{netns}", "--", *argv]


def spawn(
    argv: Sequence[str],
    *,
    netns: str | None,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start `argv` (in `netns`) in a new session, stdout and stderr appended to `log_path`;
    its environment is `lab_env(env)` (`env` defaults to ours)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as out:
        return subprocess.Popen(
            netns_argv(argv, netns),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env=lab_env(os.environ if env is None else env),
            cwd=cwd,
        )


def send_signal(ident: ProcessIdentity, sig: signal.Signals) -> bool:
    """Signal the process (its whole group when it leads one); False if it is gone."""
    if not is_running(ident):
        return False
    try:
        if os.getpgid(ident.pid) == ident.pid:
            os.killpg(ident.pid, sig)
        else:
            os.kill(ident.pid, sig)
    except ProcessLookupError:
        return False
    return True


def terminate(
    ident: ProcessIdentity,
    *,
    grace: float = 5.0,
    reap: Callable[[], object] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds; returns once the process is gone.

    `reap` is called while waiting when the caller is the parent (e.g. `popen.poll`), so the
    child does not linger as a zombie.
    """

    def gone() -> bool:
        if reap is not None:
            reap()
        return not is_running(ident)

    if not send_signal(ident, signal.SIGTERM):
        return
    deadline = clock() + grace
    while clock() < deadline:
        if gone():
            return
        sleep(0.02)
    log.warning("process did not exit after SIGTERM pid=%d grace=%.1fs; SIGKILL", ident.pid, grace)
    send_signal(ident, signal.SIGKILL)
    deadline = clock() + 5.0
    while clock() < deadline:
        if gone():
            return
        sleep(0.02)
    log.error("process survived SIGKILL pid=%d", ident.pid)
