"""Named network namespaces (`/run/netns/<name>`, as `ip netns` keeps them), through libc.

Creating a namespace unshares the *calling thread* and bind-mounts its namespace file, then
returns the thread to where it was: no child process per namespace, which is what makes a
500-host lab quick. `entered()` does the same dance to open sockets or write sysctls inside a
namespace. Callers must not run other work on the thread while inside.
"""

from __future__ import annotations

import ctypes
import errno
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager, suppress

NETNS_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000
MS_REC = 16384
MS_BIND = 4096
MS_SHARED = 1 << 20
MNT_DETACH = 2

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str, name: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}", name)


def path(name: str) -> str:
    return os.path.join(NETNS_DIR, name)


def exists(name: str) -> bool:
    return os.path.exists(path(name))


def _ensure_rundir() -> None:
    """Make NETNS_DIR a shared mount, as iproute2 does, so namespaces show in every mount ns."""
    os.makedirs(NETNS_DIR, exist_ok=True)
    target = NETNS_DIR.encode()
    if _libc.mount(b"", target, b"none", MS_SHARED | MS_REC, None) == 0:
        return
    _check(_libc.mount(target, target, b"none", MS_BIND | MS_REC, None), "bind", NETNS_DIR)
    _check(_libc.mount(b"", target, b"none", MS_SHARED | MS_REC, None), "share", NETNS_DIR)


def create(name: str) -> bool:
    """Create namespace `name`; False if it already existed."""
    if exists(name):
        return False
    _ensure_rundir()
    target = path(name)
    fd = os.open(target, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0)
    os.close(fd)
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        _check(_libc.unshare(CLONE_NEWNET), "unshare", name)
        try:
            source = b"/proc/thread-self/ns/net"
            _check(_libc.mount(source, target.encode(), b"none", MS_BIND, None), "mount", name)
        finally:
            _check(_libc.setns(home, CLONE_NEWNET), "setns back", name)
    except OSError:
        with suppress(OSError):
            os.unlink(target)
        raise
    finally:
        os.close(home)
    return True


def remove(name: str) -> bool:
    """Remove namespace `name` (killing what still runs in it); False if it did not exist."""
    return bool(remove_many([name]))


def remove_many(names: list[str]) -> list[str]:
    """Remove namespaces, killing what runs in them first; returns those that existed."""
    targets = {}
    for name in names:
        with suppress(FileNotFoundError):
            st = os.stat(path(name))
            targets[(st.st_ino, st.st_dev)] = name
    if not targets:
        return []
    for pid, key in _netns_of_processes():
        if key in targets and pid != os.getpid():
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    for name in targets.values():
        target = path(name)
        _libc.umount2(target.encode(), MNT_DETACH)
        with suppress(FileNotFoundError):
            os.unlink(target)
    return sorted(targets.values())


def _netns_of_processes() -> list[tuple[int, tuple[int, int]]]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with suppress(OSError):
                st = os.stat(f"/proc/{entry}/ns/net")
                found.append((int(entry), (st.st_ino, st.st_dev)))
    return found


def listed(prefix: str = "") -> list[str]:
    try:
        names = os.listdir(NETNS_DIR)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if n.startswith(prefix))


def pids(name: str) -> list[int]:
    """Processes whose network namespace is `name`."""
    try:
        want = os.stat(path(name))
    except FileNotFoundError:
        return []
    return [pid for pid, key in _netns_of_processes() if key == (want.st_ino, want.st_dev)]


@contextmanager
def entered(name: str | None) -> Iterator[None]:
    """Run the block with the calling thread inside namespace `name` (None: stay put)."""
    if name is None:
        yield
        return
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        try:
            target = os.open(path(name), os.O_RDONLY)
        except FileNotFoundError:
            raise OSError(errno.ENOENT, f"no network namespace {name!r}", name) from None
        try:
            _check(_libc.setns(target, CLONE_NEWNET), "setns", name)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _check(_libc.setns(home, CLONE_NEWNET), "setns back", name)
    finally:
        os.close(home)


def enter_for_exec(name: str) -> None:
    """Move the calling (single-threaded) process into namespace `name` for good."""
    fd = os.open(path(name), os.O_RDONLY)
    try:
        _check(_libc.setns(fd, CLONE_NEWNET), "setns", name)
    finally:
        os.close(fd)


def open_fd(name: str) -> int:
    return os.open(path(name), os.O_RDONLY)
