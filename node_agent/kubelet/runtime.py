"""The process runtime: pods as network namespaces, containers as shimmed processes.

`Runtime` is the Protocol the kubelet's sync loop drives; `ProcessRuntime` implements it with
the shim in `launcher.py`, the `PodNetwork` (normally `network.BridgeNetwork`), cgroups and
files. Runtime state, which lives no longer than the pod's processes and namespace, sits under
`--runtime-dir` (a tmpfs such as /run, as containerd keeps its task state: each pod writes a
dozen small files there and a disk's metadata operations cost milliseconds under load):

    pods/<uid>/pod.json                       the Pod as last run (adoption after a restart)
    pods/<uid>/etc/{hosts,resolv.conf,hostname}
    pods/<uid>/containers/<name>/<attempt>/   spec (marshal, for the shim), run.json, pid, exit.json

and data that users keep or read stays under `--root-dir`:

    pods/<uid>/volumes/<name>/                emptyDir, configMap and secret volumes
    pods/<uid>/created_paths                  mount points created on the host (removal)
    logs/<namespace>_<pod>_<uid>/<container>/<attempt>.log   (the current and the previous run)

The two may be the same directory. Everything needed to observe a container is in files, so a
restarted kubelet sees running containers (by shim pid and start time) and how finished ones
ended (the shim's exit file).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from node_agent.images import catalog
from node_agent.kubelet import launcher
from node_agent.kubelet.cgroups import Cgroups
from node_agent.kubelet.env import ConfigLookup, expand, resolve_env
from node_agent.kubelet.errors import ContainerRuntimeError, ImageNotFoundError
from node_agent.kubelet.fsutil import read_bytes, replace_bytes
from node_agent.kubelet.network import Sandbox
from node_agent.kubelet.spec import ContainerSpec, PodSpec, parse_pod
from node_agent.kubelet.state import ContainerRun, ObservedPod
from node_agent.kubelet.volumes import (
    DNSConfig,
    check_not_hidden,
    container_mounts,
    ensure_targets,
    materialise,
    refresh,
    release,
    remove_created,
    write_etc,
)

log = logging.getLogger(__name__)


class PodNetwork(Protocol):
    def setup(self, uid: str) -> Sandbox: ...
    def teardown(self, uid: str) -> None: ...
    def sandbox_for(self, uid: str) -> Sandbox | None: ...
    def pod_uids(self) -> set[str]: ...


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    output: str


class Runtime(Protocol):
    def observe(self, pod: PodSpec) -> ObservedPod: ...
    def create_sandbox(self, pod: PodSpec) -> None: ...
    def refresh_volumes(self, pod: PodSpec) -> None: ...
    def start_container(self, pod: PodSpec, name: str, attempt: int) -> None: ...
    def kill_container(self, pod: PodSpec, name: str, grace: float) -> None: ...
    def remove_pod(self, uid: str, grace: float | None = None) -> None: ...
    def exec(
        self, pod: PodSpec, name: str, argv: Sequence[str], timeout: float, stdin: bytes = b""
    ) -> ExecResult: ...
    def pod_uids(self) -> set[str]: ...
    def stored_pod(self, uid: str) -> PodSpec | None: ...


def _proc_start(pid: int) -> str | None:
    """The process's start time in clock ticks (field 22 of /proc/<pid>/stat), or None."""
    data = read_bytes(f"/proc/{pid}/stat")
    if not data:
        return None
    fields = data.decode(errors="replace").rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return None
    return fields[19]


def _read_json(path: str | Path) -> dict[str, Any] | None:
    data = read_bytes(path)
    if data is None:
        return None
    try:
        return json.loads(data)  # type: ignore[no-any-return]
    except ValueError:
        return None


def _listdir(path: str) -> list[str]:
    """The names in a directory; none if it is missing or not a directory."""
    try:
        return os.listdir(path)
    except OSError:
        return []


def _write_json(path: str | Path, data: dict[str, Any]) -> None:
    replace_bytes(path, json.dumps(data))  # whole or not at all


def _fresh_dir(path: str, stale: Sequence[str] = ()) -> None:
    """Make directory `path` (and its parents); if it was there already, remove `stale` files
    from it."""
    try:
        os.mkdir(path)
        return
    except FileNotFoundError:
        os.makedirs(path, exist_ok=True)
        return
    except FileExistsError:
        pass
    for name in stale:
        with suppress(FileNotFoundError):
            os.unlink(f"{path}/{name}")


def _prune_runs(path: str, keep_from: int) -> None:
    """Remove the runs (directories `N`) and logs (`N.log`, rotated `N.log.1`) of `path`
    numbered below `keep_from`."""
    for name in _listdir(path):
        number = name.split(".", 1)[0]
        if number.isdigit() and int(number) < keep_from:
            target = f"{path}/{name}"
            if os.path.isdir(target):
                shutil.rmtree(target, ignore_errors=True)
            else:
                with suppress(FileNotFoundError):
                    os.unlink(target)


class ProcessRuntime:
    def __init__(
        self,
        root: Path,
        network: PodNetwork,
        cgroups: Cgroups,
        lookup: ConfigLookup,
        *,
        host_ip: str = "",
        dns: DNSConfig | None = None,
        log_max_size: int = 10 * 1024 * 1024,
        runtime_dir: Path | None = None,
        images_dir: Path | None = None,
    ) -> None:
        self.root = root
        self.runtime_dir = runtime_dir or root
        self.pods_dir = self.runtime_dir / "pods"
        self.data_dir = root / "pods"  # volumes and created mount points
        self.logs_dir = root / "logs"
        # The catalog's PATH directories (busybox's applets) must be reachable by a container
        # running as any user (runAsUser), also through `kubectl exec`: the kubelet passes a
        # directory others may traverse (`rundir.images_home`), where the root dir may sit
        # below one only root can enter. The pods' state (specs, environments) stays 0700.
        self.images_dir = images_dir or root / "images"
        for d in (self.pods_dir, self.data_dir, self.logs_dir, self.images_dir):
            d.mkdir(parents=True, exist_ok=True)
        if self.runtime_dir != root:
            os.chmod(self.pods_dir, 0o700)
        catalog.prepare(self.images_dir)
        self.network = network
        self.cgroups = cgroups
        self.lookup = lookup
        self.host_ip = host_ip
        self.dns = dns or DNSConfig()
        self.log_max_size = log_max_size
        self._zygote: subprocess.Popen[str] | None = None
        self._shims: dict[int, str] = {}  # shim pid -> pod uid, for exit notices
        # Sandboxes this process set up or looked up, and the Pod object last stored per pod:
        # a sync reads both several times, and the network's lookup shares a lock with
        # address allocation, which many pods starting at once keep busy.
        self._sandboxes: dict[str, Sandbox] = {}
        self._stored: dict[str, object] = {}
        self.on_exit: Callable[[str], None] | None = None  # called with the uid of a pod
        self._lock = threading.Lock()  # the zygote, its stdin and `_replies`
        self._replies: deque[Future[str]] = deque()  # one per request the zygote has not answered
        with self._lock:
            self._ensure_zygote()  # started early: the first pod should not wait for it

    # -- paths ---------------------------------------------------------------------------
    def pod_dir(self, uid: str) -> Path:
        """The pod's runtime state (pod.json, etc/, containers/)."""
        return self.pods_dir / uid

    def pod_data_dir(self, uid: str) -> Path:
        """The pod's volumes and its record of created mount points (may be `pod_dir`)."""
        return self.data_dir / uid

    def log_dir(self, pod: PodSpec) -> Path:
        return self.logs_dir / f"{pod.namespace}_{pod.name}_{pod.uid}"

    def log_path(self, pod: PodSpec, name: str, attempt: int) -> Path:
        return self.log_dir(pod) / name / f"{attempt}.log"

    def _run_dir(self, uid: str, name: str, attempt: int) -> str:
        """A container run's state (a string: the start and every sync use it)."""
        return f"{self.pods_dir}/{uid}/containers/{name}/{attempt}"

    # -- observation ---------------------------------------------------------------------
    def pod_uids(self) -> set[str]:
        """Every pod this node holds anything of: state and data directories, pod namespaces."""
        dirs = {self.pods_dir, self.data_dir}
        found = {p.name for d in dirs for p in d.iterdir() if p.is_dir()}
        return found | self.network.pod_uids()

    def stored_pod(self, uid: str) -> PodSpec | None:
        raw = _read_json(self.pod_dir(uid) / "pod.json")
        if raw is None:
            return None
        try:
            return parse_pod(raw)
        except Exception:
            log.exception("stored pod unreadable uid=%s", uid)
            return None

    def observe(self, pod: PodSpec) -> ObservedPod:
        # Every sync reads this, so it walks plain string paths (pathlib costs more than the
        # system calls here).
        sandbox = self._sandbox(pod.uid)
        pdir = f"{self.pods_dir}/{pod.uid}"
        ready = sandbox is not None and os.path.exists(f"{pdir}/etc/hosts")
        runs: dict[str, ContainerRun] = {}
        previous: dict[str, ContainerRun] = {}
        cdir = f"{pdir}/containers"
        for name in _listdir(cdir):
            attempts = sorted(int(a) for a in _listdir(f"{cdir}/{name}") if a.isdigit())
            if not attempts:
                continue
            latest = self._run(pod.uid, name, attempts[-1])
            if latest is not None:
                runs[name] = latest
            if len(attempts) > 1:
                prev = self._run(pod.uid, name, attempts[-2])
                if prev is not None:
                    previous[name] = prev
        return ObservedPod(
            uid=pod.uid,
            sandbox_ready=ready,
            ip=sandbox.ip if sandbox else None,
            runs=runs,
            previous=previous,
        )

    def _run(self, uid: str, name: str, attempt: int) -> ContainerRun | None:
        d = self._run_dir(uid, name, attempt)
        info = _read_json(f"{d}/run.json")
        if info is None:
            info = _read_json(f"{d}/shim.json")  # started, but the kubelet died before recording
            if info is None:
                return None
            info["id"] = f"{uid[:8]}{name}{attempt}"
        pid_text = (read_bytes(f"{d}/pid") or b"").decode(errors="replace").strip()
        child_pid = int(pid_text) if pid_text.isdigit() else None
        run = ContainerRun(
            name=name,
            attempt=attempt,
            container_id=f"kubelab://{info['id']}",
            started_at=float(info["startedAt"]),
            pid=child_pid,
        )
        done = _read_json(f"{d}/exit.json")
        if done is None and not self._alive(info):
            # The shim is gone without an exit file: it was killed. Record that once, so the
            # finish time (and the back-off counted from it) stays put.
            done = {"exitCode": 137, "finishedAt": time.time(), "oomKilled": False}
            _write_json(f"{d}/exit.json", done)
        if done is None:
            return run
        return ContainerRun(
            name=name,
            attempt=attempt,
            container_id=run.container_id,
            started_at=run.started_at,
            finished_at=float(done["finishedAt"]),
            exit_code=int(done["exitCode"]),
            oom_killed=bool(done.get("oomKilled")),
            pid=child_pid,
        )

    def _alive(self, info: dict[str, Any]) -> bool:
        """The shim still runs: same pid and same start time (pids get reused)."""
        return _proc_start(int(info["shimPid"])) == info.get("shimStart")

    # -- sandbox -------------------------------------------------------------------------
    def _sandbox(self, uid: str) -> Sandbox | None:
        """The pod's sandbox while its namespace exists (cached; see __init__)."""
        known = self._sandboxes.get(uid)
        if known is not None and os.path.exists(known.netns_path):
            return known
        found = self.network.sandbox_for(uid)
        if found is None:
            self._sandboxes.pop(uid, None)
        else:
            self._sandboxes[uid] = found
        return found

    def _store(self, pdir: Path, pod: PodSpec) -> None:
        """`pod.json`, for adoption after a restart; rewritten only when the object changed."""
        if self._stored.get(pod.uid) is pod.raw and (pdir / "pod.json").exists():
            return
        _write_json(pdir / "pod.json", pod.raw)
        self._stored[pod.uid] = pod.raw

    def create_sandbox(self, pod: PodSpec) -> None:
        pdir = self.pod_dir(pod.uid)
        pdir.mkdir(parents=True, exist_ok=True)
        self._store(pdir, pod)
        self._sandboxes.pop(pod.uid, None)
        sandbox = self.network.setup(pod.uid)
        self._sandboxes[pod.uid] = sandbox
        materialise(self.pod_data_dir(pod.uid), pod, self.lookup)
        write_etc(pdir, pod, sandbox.ip, self.dns)

    def refresh_volumes(self, pod: PodSpec) -> None:
        """Bring the pod's configMap and secret volumes up to date with their objects."""
        refresh(self.pod_data_dir(pod.uid), pod, self.lookup)

    # -- containers ----------------------------------------------------------------------
    def start_container(self, pod: PodSpec, name: str, attempt: int) -> None:
        c = pod.container(name)
        if c is None:
            raise ContainerRuntimeError(f"pod {pod.key} has no container {name}")
        image = catalog.lookup(c.image)
        if image is None:
            raise ImageNotFoundError(c.image, catalog.known_images())
        sandbox = self._sandbox(pod.uid)
        if sandbox is None:
            raise ContainerRuntimeError(f"pod {pod.key} has no sandbox")
        pdir = self.pod_dir(pod.uid)
        self._store(pdir, pod)
        env = self._env(pod, c, image, sandbox.ip)
        argv = [expand(a, env) for a in catalog.argv(image, c.command, c.args)]
        ddir = self.pod_data_dir(pod.uid)
        sources = materialise(ddir, pod, self.lookup)
        if c.volume_mounts:  # what the command runs from, looked up only when it matters
            check_not_hidden(c, catalog.runs_from(argv, env.get("PATH", catalog.HOST_PATH)))
        mounts = container_mounts(pdir, c, pod, sources)
        ensure_targets(mounts, ddir / "created_paths")
        if c.working_dir and not Path(c.working_dir).exists():
            Path(c.working_dir).mkdir(parents=True, exist_ok=True)
            ddir.mkdir(parents=True, exist_ok=True)
            with (ddir / "created_paths").open("a") as f:
                f.write(f"{c.working_dir}\n")
        cg = self.cgroups.create(pod.uid, c.name, c.memory_limit, c.cpu_limit_milli)
        # Plain string paths from here: this runs for every container start.
        rdir = self._run_dir(pod.uid, name, attempt)
        _fresh_dir(rdir, stale=("exit.json", "pid", "shim.json", "run.json"))
        logfile = str(self.log_path(pod, name, attempt))
        _fresh_dir(os.path.dirname(logfile))
        if attempt >= 2:  # keep the current and the previous run (and its log) only
            _prune_runs(os.path.dirname(rdir), attempt - 1)
            _prune_runs(os.path.dirname(logfile), attempt - 1)
        spec = {
            "netns": sandbox.netns_path,
            "hostname": (pod.hostname or pod.name)[:63],
            "argv": argv,
            "env": env,
            "cwd": c.working_dir,
            "uid": c.run_as_user,
            "gid": c.run_as_group,
            "mounts": [
                {"source": m.source, "target": m.target, "read_only": m.read_only} for m in mounts
            ],
            "cgroup_procs": list(cg.procs_files),
            "memory_cgroup": cg.memory_dir,
            "pid_file": f"{rdir}/pid",
            "exit_file": f"{rdir}/exit.json",
            "log_file": logfile,
            "log_max_size": self.log_max_size,
        }
        launcher.write_spec(f"{rdir}/spec", spec)
        shim_pid = self._spawn(f"{rdir}/spec", logfile, pod.uid)
        info = {
            "id": uuid.uuid4().hex,
            "startedAt": time.time(),
            "shimPid": shim_pid,
            "shimStart": _proc_start(shim_pid),
        }
        _write_json(f"{rdir}/run.json", info)
        log.info(
            "container started pod=%s container=%s attempt=%d shim=%d argv=%s",
            pod.key,
            name,
            attempt,
            shim_pid,
            argv,
        )

    def _spawn(self, spec: str, logfile: str, uid: str) -> int:
        """Have the zygote fork a shim for `spec`, logging to `logfile`; the shim's pid.

        Requests are pipelined: a caller writes its line and waits for its own reply, which
        the zygote's reader thread hands over in order (the zygote answers in order), so many
        pods starting at once keep the zygote busy instead of taking turns on a lock."""
        for _ in range(2):
            reply: Future[str] = Future()
            with self._lock:
                z = self._ensure_zygote()
                assert z.stdin is not None
                try:
                    z.stdin.write(f"{spec} {logfile}\n")
                    z.stdin.flush()
                except (BrokenPipeError, OSError, ValueError):
                    self._zygote = None
                    continue
                self._replies.append(reply)
            try:
                text = reply.result(timeout=60)
            except ContainerRuntimeError:
                continue  # the zygote died: start another one and ask again
            except TimeoutError as exc:
                raise ContainerRuntimeError(f"cannot start shim for {spec}: no answer") from exc
            if text.lstrip("-").isdigit() and int(text) > 0:
                self._shims[int(text)] = uid
                return int(text)
            raise ContainerRuntimeError(f"cannot start shim for {spec}: {text}")
        raise ContainerRuntimeError(f"cannot start shim for {spec}: the zygote keeps dying")

    def _ensure_zygote(self) -> subprocess.Popen[str]:
        """The running zygote, started (with its reply and exit readers) if needed; called
        with `_lock` held."""
        z = self._zygote
        if z is None or z.poll() is not None:
            events_r, events_w = os.pipe()
            z = self._zygote = subprocess.Popen(
                [sys.executable, "-I", "-S", launcher.__file__, "--zygote", str(events_w)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=None,
                start_new_session=True,
                text=True,
                bufsize=1,
                pass_fds=(events_w,),
            )
            os.close(events_w)
            replies: deque[Future[str]] = deque()
            self._replies = replies
            threading.Thread(
                target=self._read_exits, args=(events_r,), name="zygote-events", daemon=True
            ).start()
            threading.Thread(
                target=self._read_replies, args=(z, replies), name="zygote-replies", daemon=True
            ).start()
        return z

    def _read_replies(self, z: subprocess.Popen[str], replies: deque[Future[str]]) -> None:
        """The zygote's answers (a shim pid or `-1 error`), one line per request, in order."""
        assert z.stdout is not None
        for line in z.stdout:
            with self._lock:
                waiter = replies.popleft() if replies else None
            if waiter is not None:
                waiter.set_result(line.strip())
        with self._lock:  # the zygote is gone: whoever still waits asks the next one
            if self._zygote is z:
                self._zygote = None
            while replies:
                replies.popleft().set_exception(ContainerRuntimeError("the zygote died"))

    def _read_exits(self, fd: int) -> None:
        """`exit PID` lines from the zygote: tell the exit listener which pod to sync."""
        with os.fdopen(fd) as events:
            for line in events:
                text = line.strip()
                if not text.startswith("exit "):
                    continue
                uid = self._shims.pop(int(text[5:]), None)
                if uid is not None and self.on_exit is not None:
                    self.on_exit(uid)

    def close(self) -> None:
        """Stop the zygote (running shims and containers are not affected)."""
        with self._lock:
            if self._zygote is not None and self._zygote.stdin is not None:
                self._zygote.stdin.close()
                self._zygote.wait(timeout=5)
            self._zygote = None

    def _env(self, pod: PodSpec, c: ContainerSpec, image: catalog.Image, ip: str) -> dict[str, str]:
        base = {
            "PATH": catalog.path_for(image, self.images_dir),
            "HOSTNAME": (pod.hostname or pod.name)[:63],
            "HOME": "/root" if not c.run_as_user else "/",
            **image.env,
        }
        return resolve_env(pod, c, base, self.lookup, pod_ip=ip, host_ip=self.host_ip)

    def _shim_info(self, uid: str, name: str) -> tuple[dict[str, Any], Path] | None:
        cdir = self.pod_dir(uid) / "containers" / name
        if not cdir.is_dir():
            return None
        attempts = sorted(int(a.name) for a in cdir.iterdir() if a.name.isdigit())
        if not attempts:
            return None
        rdir = cdir / str(attempts[-1])
        info = _read_json(rdir / "run.json") or _read_json(rdir / "shim.json")
        return (info, rdir) if info else None

    def kill_container(self, pod: PodSpec, name: str, grace: float) -> None:
        """preStop hook, SIGTERM, then SIGKILL after `grace` seconds (all bounded by it)."""
        found = self._shim_info(pod.uid, name)
        if found is None:
            return
        info, rdir = found
        if (rdir / "exit.json").exists() or not self._alive(info):
            return
        deadline = time.monotonic() + grace
        c = pod.container(name)
        if c is not None and c.pre_stop is not None:
            result = self.exec(pod, name, c.pre_stop.command, timeout=max(0.1, grace))
            log.info("preStop pod=%s container=%s exit=%d", pod.key, name, result.exit_code)
        shim = int(info["shimPid"])
        self._signal(shim, info, signal.SIGTERM)
        while time.monotonic() < deadline and self._alive(info):
            time.sleep(0.05)
        if self._alive(info):
            log.info("grace period over, killing pod=%s container=%s", pod.key, name)
            pid_text = (rdir / "pid").read_text().strip() if (rdir / "pid").exists() else ""
            if pid_text.isdigit():
                with suppress(ProcessLookupError):
                    os.kill(int(pid_text), signal.SIGKILL)  # kills the whole PID namespace
            end = time.monotonic() + 2
            while time.monotonic() < end and self._alive(info):
                time.sleep(0.02)
            if self._alive(info):
                self._signal(shim, info, signal.SIGKILL)
        end = time.monotonic() + 2
        while time.monotonic() < end and self._alive(info):
            time.sleep(0.02)

    def _signal(self, pid: int, info: dict[str, Any], sig: int) -> None:
        if _proc_start(pid) == info.get("shimStart"):
            with suppress(ProcessLookupError):
                os.kill(pid, sig)

    def exec(
        self, pod: PodSpec, name: str, argv: Sequence[str], timeout: float, stdin: bytes = b""
    ) -> ExecResult:
        """Run `argv` inside a running container's namespaces (exec probes, preStop, exec)."""
        prepared = self.exec_command(pod, name, argv)
        if isinstance(prepared, ExecResult):
            return prepared
        cmd, env = prepared
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=timeout, env=env, input=stdin)
        except subprocess.TimeoutExpired:
            return ExecResult(124, f"command timed out after {timeout:g}s")
        out = (proc.stdout + proc.stderr).decode(errors="replace")
        return ExecResult(proc.returncode, out)

    def exec_command(
        self, pod: PodSpec, name: str, argv: Sequence[str]
    ) -> tuple[list[str], dict[str, str]] | ExecResult:
        """The command line (and environment) that runs `argv` inside a running container's
        namespaces, for a caller that streams its input and output; an ExecResult (126) when
        the container is not running."""
        found = self._shim_info(pod.uid, name)
        rdir = found[1] if found else None
        if found and not (found[1] / "pid").exists() and self._alive(found[0]):
            end = time.monotonic() + 2  # a container just started: its shim is forking it
            while time.monotonic() < end and not (found[1] / "pid").exists():
                time.sleep(0.01)
        pid_text = (rdir / "pid").read_text().strip() if rdir and (rdir / "pid").exists() else ""
        if not pid_text.isdigit():
            return ExecResult(126, f"container {name} is not running")
        spec = _read_spec(rdir) if rdir else None
        env = (spec or {}).get("env", {"PATH": catalog.HOST_PATH})
        cmd = ["nsenter", "--target", pid_text, "--net", "--mount", "--uts", "--pid"]
        c = pod.container(name)
        if c is not None and c.run_as_user is not None:
            cmd += ["--setuid", str(c.run_as_user), "--setgid", str(c.run_as_group or 0)]
        cmd += ["--", *_resolve(argv, env.get("PATH", catalog.HOST_PATH))]
        return cmd, dict(env)

    # -- removal -------------------------------------------------------------------------
    def remove_pod(self, uid: str, grace: float | None = None) -> None:
        """Kill every container (in parallel, each with the grace period), then remove the
        network, cgroups, created mount points, state and logs. Safe to repeat."""
        pod = self.stored_pod(uid)
        if pod is not None:
            period = pod.grace_period if grace is None else grace
            threads = [
                threading.Thread(target=self.kill_container, args=(pod, c.name, period))
                for c in (*pod.init_containers, *pod.containers)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        else:
            self._kill_all_shims(uid)
        self._sandboxes.pop(uid, None)
        self._stored.pop(uid, None)
        self.network.teardown(uid)
        self.cgroups.remove_pod(uid)
        remove_created(self.pod_data_dir(uid) / "created_paths")
        release(self.pod_data_dir(uid))  # memory-backed emptyDirs, before their files go
        if pod is not None:
            shutil.rmtree(self.log_dir(pod), ignore_errors=True)
        shutil.rmtree(self.pod_data_dir(uid), ignore_errors=True)
        shutil.rmtree(self.pod_dir(uid), ignore_errors=True)
        log.info("pod removed uid=%s", uid)

    def _kill_all_shims(self, uid: str) -> None:
        cdir = self.pod_dir(uid) / "containers"
        if not cdir.is_dir():
            return
        for name in [p.name for p in cdir.iterdir()]:
            found = self._shim_info(uid, name)
            if found and self._alive(found[0]):
                pid_text = (found[1] / "pid").read_text().strip()
                if pid_text.isdigit():
                    with suppress(ProcessLookupError):
                        os.kill(int(pid_text), signal.SIGKILL)
                self._signal(int(found[0]["shimPid"]), found[0], signal.SIGKILL)


def _read_spec(rdir: Path) -> dict[str, Any] | None:
    """A container's spec (`spec.json`: written by kubelets before the marshal format)."""
    try:
        return launcher.read_spec(str(rdir / "spec"))
    except (OSError, ValueError, EOFError, TypeError):
        return _read_json(rdir / "spec.json")


def _resolve(argv: Sequence[str], path: str) -> list[str]:
    """nsenter execs with its own PATH lookup; resolve the command in the container's PATH."""
    if not argv or "/" in argv[0]:
        return list(argv)
    found = shutil.which(argv[0], path=path)
    return [found or argv[0], *argv[1:]]
