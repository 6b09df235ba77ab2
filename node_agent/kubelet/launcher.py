"""The container shim: the process the kubelet starts for each container run.

Run as `python -I -S launcher.py SPEC` with stdout pointing at the container's log file,
or forked by the long-lived `launcher.py --zygote` that the kubelet keeps (one small process
that forks a shim per container, far cheaper than an interpreter start).

The shim joins the cgroups and the pod's network namespace, unshares UTS and PID namespaces
and sets the hostname; then forks the container process (PID 1 of the new PID namespace), which
unshares its mount namespace, bind-mounts /etc files and volumes, mounts its own /proc, drops to
runAsUser/runAsGroup and execs the command. The mounts are the container's alone: a volume
mounted over a node path the shim writes to (say an emptyDir at /dev/shm, where the kubelet may
keep its runtime state) hides nothing from the shim, and every mount source is opened before
the first mount, so one volume cannot hide another's source. The shim stays as the child's
parent: it forwards SIGTERM/SIGINT/SIGHUP/SIGQUIT, writes the child's pid to `pid_file` once
the command runs (an exec into the container then finds it set up), copies
the child's stdout and stderr (pipes) into the log file in the CRI format, and on exit writes
`exit_file` (exit code, time, OOM kill) so even a restarted kubelet learns how the
container ended. If the shim dies, the kernel kills the container (PDEATHSIG).

The spec (`SPEC`) is a `marshal`ed dict (the kubelet and the shim run the same interpreter), and
the shim writes its small JSON files by hand: importing json (re, enum, ...) in every shim cost
about 20 ms of CPU per container.

Deliberately small: only the standard library, no kubelet imports, so it starts fast. The
zygote stays as small as `python -I -S` allows while it has nothing to do (it counts in the node
agent's memory): at module level only built-in modules (`_signal`, as `signal` loads enum).
What a shim needs beyond that (ctypes, select, warnings) the zygote loads on its first request,
so each later shim inherits it through fork instead of importing it (about 10 ms of CPU and
about 1.7 MB private per container with json, against 0.6 MB once in the zygote: 8.7 -> 9.3 MB).
"""

from __future__ import annotations

import marshal
import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ctypes
    import signal
    from collections.abc import Callable
    from typing import Any
else:
    import _signal as signal  # the same functions and numbers, without signal.py's enums

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
PR_SET_PDEATHSIG = 1

_LIBC: list[ctypes.CDLL] = []  # the C library, loaded on first use (never in the zygote)


def _libc() -> ctypes.CDLL:
    if not _LIBC:
        import ctypes  # noqa: PLC0415 - not in the zygote, see the module docstring

        _LIBC.append(ctypes.CDLL(None, use_errno=True))
    return _LIBC[0]


def _check(result: int, what: str) -> None:
    if result != 0:
        import ctypes  # noqa: PLC0415

        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(source: str, target: str, fstype: str, flags: int) -> None:
    _check(
        _libc().mount(source.encode(), target.encode(), fstype.encode(), flags, None),
        f"mount {source} on {target}",
    )


def bind(source: str, target: str, read_only: bool) -> None:
    mount(source, target, "none", MS_BIND | MS_REC)
    if read_only:
        mount("none", target, "none", MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC)


def _quietly(fn: Callable[..., object], *args: object) -> None:
    """`fn(*args)`, ignoring an OSError (a process or pipe that is already gone); contextlib.
    suppress would load contextlib into the zygote."""
    try:
        fn(*args)
    except OSError:
        return


def _oom_kills(memory_cgroup: str) -> int:
    if not memory_cgroup:
        return 0
    for name in ("memory.oom_control", "memory.events"):
        try:
            with open(os.path.join(memory_cgroup, name)) as f:
                for line in f:
                    key, _, val = line.partition(" ")
                    if key == "oom_kill":
                        return int(val)
        except OSError:
            continue
    return 0


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _json_str(text: str) -> str:
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def dumps(data: dict[str, str | int | float | bool | None]) -> str:
    """A flat dict of strings, numbers, booleans and None as JSON (the json module is too
    expensive to import per shim)."""
    items = []
    for key, val in data.items():
        if val is None or isinstance(val, bool):
            text = {None: "null", True: "true", False: "false"}[val]
        elif isinstance(val, int | float):
            text = repr(val)
        else:
            text = _json_str(val)
        items.append(f"{_json_str(key)}: {text}")
    return "{" + ", ".join(items) + "}"


def _write_json(path: str, data: dict[str, Any]) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(dumps(data))
    os.replace(tmp, path)


def read_spec(path: str) -> dict[str, Any]:
    with open(path, "rb") as f:
        spec = marshal.load(f)  # noqa: S302 - written by the kubelet into its own 0700 dir
    if not isinstance(spec, dict):
        raise ValueError(f"{path}: not a container spec")
    return spec


def write_spec(path: str, spec: dict[str, Any]) -> None:
    """Write `spec` for `read_spec` (by the kubelet; atomically)."""
    from node_agent.kubelet.fsutil import replace_bytes  # noqa: PLC0415 - kubelet side only

    replace_bytes(path, marshal.dumps(spec))


def _preload() -> None:
    """Load what every shim needs, once, in the zygote (see the module docstring)."""
    import select  # noqa: F401, PLC0415
    import warnings  # noqa: F401, PLC0415 - see shim()

    _libc()


def _stamp() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e9):09d}Z"


class LogWriter:
    """Writes container output in the CRI log format, one entry per line:
    `<RFC3339Nano time> <stdout|stderr> <F|P> <text>`. Output is written as it is read, so a
    line still being written shows up as P (partial) entries, joined by the reader.

    With `path` and `max_size`, a file that grows past `max_size` bytes is rotated to
    `<path>.1` (replacing an older one) and a new file is started, as the kubelet's
    containerLogMaxSize does."""

    MAX_LINE = 16384

    def __init__(self, fd: int, path: str = "", max_size: int = 0) -> None:
        self.fd = fd
        self.path = path
        self.max_size = max_size
        self.size = os.fstat(fd).st_size

    def feed(self, stream: str, data: bytes) -> None:
        *lines, rest = data.split(b"\n")
        for line in lines:
            self.write(stream, "F", line)
        for i in range(0, len(rest), self.MAX_LINE):
            self.write(stream, "P", rest[i : i + self.MAX_LINE])

    def write(self, stream: str, tag: str, line: bytes) -> None:
        entry = f"{_stamp()} {stream} {tag} ".encode() + line + b"\n"
        os.write(self.fd, entry)
        self.size += len(entry)
        if self.path and self.max_size and self.size > self.max_size:
            self._rotate()

    def _rotate(self) -> None:
        try:
            os.replace(self.path, self.path + ".1")
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        except OSError:
            return  # keep writing where we are rather than lose output
        os.dup2(fd, self.fd)
        os.close(fd)
        self.size = 0


def _pump(pid: int, out_r: int, err_r: int, log: LogWriter) -> int:
    """Copy the container's output into the log until both pipes close, then reap it; its
    wait status. Blocks without polling (an idle container costs no wake-ups): the pipes close
    when the container's PID namespace ends, as its init's exit kills every process in it."""
    import select  # noqa: PLC0415

    streams = {out_r: "stdout", err_r: "stderr"}
    while streams:
        ready, _, _ = select.select(list(streams), [], [])
        for fd in ready:
            data = os.read(fd, 65536)
            if data:
                log.feed(streams[fd], data)
            else:
                del streams[fd]
                os.close(fd)
    while True:
        try:
            return os.waitpid(pid, 0)[1]
        except InterruptedError:
            continue


def setup(spec: dict[str, Any]) -> None:
    """Everything before the fork: cgroups, the pod's network namespace, UTS and PID
    namespaces, hostname. (The mounts are the container process's: see `mount_volumes`.)"""
    for procs in spec.get("cgroup_procs", []):
        with open(procs, "w") as f:
            f.write(str(os.getpid()))
    if spec.get("netns"):
        fd = os.open(spec["netns"], os.O_RDONLY)
        try:
            _check(_libc().setns(fd, CLONE_NEWNET), f"setns {spec['netns']}")
        finally:
            os.close(fd)
    _check(_libc().unshare(CLONE_NEWUTS | CLONE_NEWPID), "unshare")
    hostname = spec["hostname"].encode()
    _check(_libc().sethostname(hostname, len(hostname)), "sethostname")


def mount_volumes(mounts: list[dict[str, Any]]) -> None:
    """In the container process: a mount namespace of its own, with the /etc files and volumes
    bind-mounted. Each source is opened (O_PATH) before the first mount and bound through
    /proc/self/fd, so a volume mounted over the directory that holds a later source (an
    emptyDir at /var/lib, say) does not hide that source."""
    _check(_libc().unshare(CLONE_NEWNS), "unshare mount namespace")
    mount("none", "/", "none", MS_REC | MS_PRIVATE)
    fds = [os.open(m["source"], os.O_PATH | os.O_CLOEXEC) for m in mounts]
    try:
        for m, fd in zip(mounts, fds, strict=True):
            try:
                bind(f"/proc/self/fd/{fd}", m["target"], bool(m.get("read_only")))
            except OSError as exc:
                raise OSError(exc.errno, f"mount {m['source']} on {m['target']}: "
                              f"{os.strerror(exc.errno or 0)}") from None  # fmt: skip
    finally:
        for fd in fds:
            os.close(fd)


def child(spec: dict[str, Any], out_w: int, err_w: int, exec_w: int) -> None:
    """In the forked container process (PID 1 of its namespace); never returns. `exec_w` is
    close-on-exec: the shim reads its end's EOF once the command runs (or this died)."""
    try:
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.closerange(3, exec_w)
        os.closerange(exec_w + 1, 1024)
        _libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        os.setsid()
    except OSError as exc:
        os.write(2, f"kubelab: cannot start container: {exc}\n".encode())
        os._exit(126)
    try:
        mount_volumes(spec.get("mounts", []))
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    except OSError as exc:
        os.write(2, f"kubelab: cannot create container sandbox: {exc}\n".encode())
        os._exit(128)
    try:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
            signal.signal(sig, signal.SIG_DFL)
        gid, uid = spec.get("gid"), spec.get("uid")
        if gid is not None or uid is not None:
            os.setgroups([])
        if gid is not None:
            os.setgid(gid)
        if uid is not None:
            os.setuid(uid)
        if spec.get("cwd"):
            os.chdir(spec["cwd"])
        env = spec["env"]
        os.execvpe(spec["argv"][0], spec["argv"], env)  # noqa: S606 - exec is the point
    except OSError as exc:
        os.write(2, f"kubelab: cannot start container: {exc}\n".encode())
        os._exit(127 if isinstance(exc, FileNotFoundError) else 126)


def shim(spec_path: str) -> int:
    """Set up, fork the container, log its output, wait for it, write the exit file; the
    exit code. stdout is the container's log file."""
    import warnings  # noqa: F401, PLC0415 - os.execvpe imports it, in the container process,
    # which may have dropped to a runAsUser that cannot read the standard library.

    spec = read_spec(spec_path)
    # Who runs this container, written before anything else: a kubelet that died before
    # recording the shim still finds it (and does not start a second one).
    with open(f"/proc/{os.getpid()}/stat") as f:
        start = f.read().rsplit(")", 1)[1].split()[19]
    shim_file = os.path.join(os.path.dirname(spec["pid_file"]), "shim.json")
    _write_json(shim_file, {"shimPid": os.getpid(), "shimStart": start, "startedAt": time.time()})
    log = LogWriter(1, spec.get("log_file", ""), int(spec.get("log_max_size", 0)))
    try:
        setup(spec)
    except OSError as exc:
        log.write("stderr", "F", f"kubelab: cannot create container sandbox: {exc}".encode())
        _write_json(
            spec["exit_file"], {"exitCode": 128, "finishedAt": time.time(), "error": str(exc)}
        )
        return 128
    ooms_before = _oom_kills(spec.get("memory_cgroup", ""))
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    exec_r, exec_w = os.pipe()  # close-on-exec, as os.pipe makes them
    pid = os.fork()
    if pid == 0:
        child(spec, out_w, err_w, exec_w)
    os.close(out_w)
    os.close(err_w)
    os.close(exec_w)
    # The pid file says the container is there to exec into: only once its namespaces and
    # mounts are set up and the command runs (the read ends at that exec, or at its death).
    while os.read(exec_r, 1):
        pass
    os.close(exec_r)
    with open(spec["pid_file"] + ".tmp", "w") as f:
        f.write(str(pid))
    os.replace(spec["pid_file"] + ".tmp", spec["pid_file"])

    def forward(signum: int, frame: object) -> None:
        _quietly(os.kill, pid, signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, forward)
    code = os.waitstatus_to_exitcode(_pump(pid, out_r, err_r, log))
    if code < 0:
        code = 128 - code
    oom = _oom_kills(spec.get("memory_cgroup", "")) > ooms_before and code == 137
    _write_json(spec["exit_file"], {"exitCode": code, "finishedAt": time.time(), "oomKilled": oom})
    return code if code < 256 else 255


def zygote(events_fd: int) -> None:
    """Fork one shim per request: stdin lines `SPEC_PATH LOG_PATH`, stdout lines `PID` (or
    `-1 ERROR`); and whenever a shim ends, a line `exit PID` on `events_fd`, so the kubelet
    learns of a container's exit at once instead of at its next relist.

    Forking this small single-threaded process is much cheaper than starting an interpreter
    per container. Shims are session leaders of their own and outlive the zygote, which exits
    when the kubelet closes the pipe (or dies). Lines are written with single os.write calls
    (atomic on a pipe), so replies and exit notices never interleave.
    """

    def reap(signum: int, frame: object) -> None:
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if not pid:
                return
            _quietly(os.write, events_fd, f"exit {pid}\n".encode())

    signal.signal(signal.SIGCHLD, reap)
    loaded = False
    for line in sys.stdin:
        if not loaded:
            _preload()
            loaded = True
        spec_path, _, log_path = line.rstrip("\n").partition(" ")
        try:
            log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        except OSError as exc:
            os.write(1, f"-1 {exc}\n".encode())
            continue
        pid = os.fork()
        if pid == 0:
            try:
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                os.setsid()
                null = os.open(os.devnull, os.O_RDONLY)
                os.dup2(null, 0)
                os.dup2(log_fd, 1)
                os.dup2(log_fd, 2)
                os.closerange(3, 1024)  # also the events pipe: only the zygote writes it
                sys.stdout = os.fdopen(1, "w")
                sys.stderr = os.fdopen(2, "w")
                code = shim(spec_path)
            except BaseException as exc:
                _quietly(
                    os.write, 1, f"{_stamp()} stderr F kubelab: shim failed: {exc!r}\n".encode()
                )
                code = 128
            os._exit(code)
        os.close(log_fd)
        os.write(1, f"{pid}\n".encode())


def main() -> None:
    if sys.argv[1] == "--zygote":
        zygote(int(sys.argv[2]))
        return
    sys.exit(shim(sys.argv[1]))


if __name__ == "__main__":
    main()
