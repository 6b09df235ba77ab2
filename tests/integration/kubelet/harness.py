"""A real kubelet process in standalone mode, inside a private "node" namespace.

`KubeletHarness` writes pod manifests into the kubelet's `--pod-manifest-path`, reads the
status files it reports, runs commands inside pod namespaces and restarts the kubelet. Every
kernel object carries the test's unique tag (node namespace `<tag>-node`, pod namespaces
`<tag>-p-<uid>`, cgroups `kubelab-<tag>`; the default `--runtime-dir` is derived from the
test's own root dir), and `close()` always runs the kubelet's own
`--cleanup` and then checks nothing of the tag is left.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from node_agent.kubelet import logs, rundir
from node_agent.kubelet.network import entered
from tests.support import wait_until

Object = dict[str, Any]
CIDR = "10.244.7.0/24"


class KubeletHarness:
    def __init__(self, tag: str, node_ns: str, workdir: Path, *extra: str) -> None:
        self.tag = tag
        self.node_ns = node_ns
        self.root = workdir / "root"
        self.run_dir = rundir.default_for(self.root)  # the default --runtime-dir (on /run)
        self.manifests = workdir / "manifests"
        self.manifests.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "kubelet.log"
        self.netns_prefix = f"{tag}-p-"
        self.extra = extra
        self.token = "t0k3n-" + tag
        (workdir / "token").write_text(self.token)
        self.token_file = workdir / "token"
        self.proc: subprocess.Popen[bytes] | None = None

    # -- process -------------------------------------------------------------------------
    def argv(self, *more: str) -> list[str]:
        return [
            "nsenter", f"--net=/run/netns/{self.node_ns}",
            sys.executable, "-m", "node_agent.kubelet",
            "--node-name", self.tag,
            "--root-dir", str(self.root),
            "--pod-cidr", CIDR,
            "--node-ip", "10.250.0.20",
            "--pod-manifest-path", str(self.manifests),
            "--netns-prefix", self.netns_prefix,
            "--file-check-frequency", "0.2",
            "--sync-frequency", "5",  # exits and probes must wake pods by themselves
            "--crashloop-backoff-initial", "1",
            "--crashloop-backoff-max", "4",
            "--node-status-update-frequency", "1",
            "--authentication-token-file", str(self.token_file),
            *self.extra,
            *more,
        ]  # fmt: skip

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(self.argv(), stdout=log, stderr=subprocess.STDOUT)
        wait_until((self.root / "status" / "node.json").exists, 15, message="kubelet up")

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        subprocess.run(self.argv("--cleanup"), capture_output=True, timeout=60)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    # -- pods ----------------------------------------------------------------------------
    def apply(self, *pods: Object, file: str | None = None) -> None:
        name = file or pods[0]["metadata"]["name"]
        path = self.manifests / f"{name}.yaml"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump_all(pods))
        os.replace(tmp, path)

    def delete(self, file: str) -> None:
        (self.manifests / f"{file}.yaml").unlink()

    def pod(self, name: str) -> Object | None:
        path = self.root / "status" / "pods" / f"default_{name}-{self.tag}.json"
        try:
            return json.loads(path.read_text())  # type: ignore[no-any-return]
        except (OSError, ValueError):
            return None

    def status(self, name: str) -> Object:
        pod = self.pod(name)
        return pod["status"] if pod else {}

    def container(self, pod: str, name: str, init: bool = False) -> Object:
        key = "initContainerStatuses" if init else "containerStatuses"
        for c in self.status(pod).get(key, []):
            if c["name"] == name:
                return c  # type: ignore[no-any-return]
        return {}

    def wait_phase(self, name: str, phase: str, timeout: float = 20) -> Object:
        def check() -> Object:
            st = self.status(name)
            return st if st.get("phase") == phase else {}

        try:
            return wait_until(check, timeout, message=f"pod {name} {phase}")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}; status={self.status(name)}\n{self.log()[-3000:]}") from None

    def wait_ready(self, name: str, timeout: float = 20) -> Object:
        def ready() -> Object:
            st = self.status(name)
            conds = {c["type"]: c["status"] for c in st.get("conditions", [])}
            return st if conds.get("Ready") == "True" else {}

        try:
            return wait_until(ready, timeout, message=f"pod {name} Ready")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}; status={self.status(name)}\n{self.log()[-3000:]}") from None

    def events(self, name: str) -> list[Object]:
        """Events recorded for the pod `name`, oldest first."""
        path = self.root / "status" / "events.jsonl"
        if not path.exists():
            return []
        full = f"{name}-{self.tag}"
        events = [json.loads(line) for line in path.read_text().splitlines() if line]
        return [e for e in events if e["involvedObject"]["name"] == full]

    def uid(self, name: str) -> str:
        pod = self.pod(name)
        assert pod is not None, f"pod {name} has no status"
        return str(pod["metadata"]["uid"])

    def pod_netns(self, name: str) -> str:
        return self.netns_prefix + self.uid(name)

    def in_pod(
        self, name: str, *argv: str, timeout: float = 10
    ) -> subprocess.CompletedProcess[str]:
        """Run a host command inside the pod's network namespace."""
        return subprocess.run(
            ["ip", "netns", "exec", self.pod_netns(name), *argv],
            capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip

    def in_node(self, *argv: str, timeout: float = 10) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", self.node_ns, *argv],
            capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip

    def api(
        self, method: str, path: str, *, token: str | None = None, body: bytes | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """An HTTP request to the kubelet's server on :10250, from inside the node namespace."""
        headers = {"Authorization": f"Bearer {self.token if token is None else token}"}
        req = urllib.request.Request(
            f"https://10.244.7.1:10250{path}", data=body, method=method, headers=headers
        )
        ctx = ssl.create_default_context(cafile=str(self.root / "pki" / "kubelet.crt"))
        with entered(f"/run/netns/{self.node_ns}"):
            try:
                with urllib.request.urlopen(req, timeout=20, context=ctx) as resp:
                    return resp.status, dict(resp.headers), resp.read()
            except urllib.error.HTTPError as err:
                return err.code, dict(err.headers), err.read()

    def logs(self, pod: str, container: str, attempt: int = 0) -> str:
        uid = self.uid(pod)
        path = self.root / "logs" / f"default_{pod}-{self.tag}_{uid}" / container / f"{attempt}.log"
        return logs.render(path.read_bytes()).decode(errors="replace") if path.exists() else ""

    def leftovers(self) -> list[str]:
        """Kernel objects of this node still present (namespaces, cgroups, the runtime dir,
        mounts under the root dir)."""
        found = [n for n in os.listdir("/run/netns") if n.startswith(self.netns_prefix)]
        with open("/proc/self/mountinfo") as info:
            points = [line.split()[4] for line in info]
        found += [p for p in points if p.startswith(f"{self.root}/")]
        for d in (self.run_dir, rundir.images_home(self.root)):
            if d.exists():
                found.append(str(d))
        for controller in ("memory", "cpu"):
            d = Path("/sys/fs/cgroup") / controller / f"kubelab-{self.tag}"
            if d.exists() and any(p.is_dir() for p in d.iterdir()):
                found.append(str(d))
        return found


def pod(name: str, *containers: Object, **spec: Any) -> Object:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"terminationGracePeriodSeconds": 2, "containers": list(containers), **spec},
    }


def agnhost(name: str = "web", port: int = 8080, **extra: Any) -> Object:
    return {
        "name": name,
        "image": "registry.k8s.io/e2e-test-images/agnhost:2.39",
        "args": ["netexec", f"--http-port={port}"],
        "ports": [{"containerPort": port}],
        **extra,
    }


def busybox(name: str, script: str, **extra: Any) -> Object:
    return {"name": name, "image": "busybox", "command": ["sh", "-c", script], **extra}
