"""The harness of the `kubelab up` end-to-end tests: one lab with its own name and state.

Each lab has a unique short name, its own state root (`$KUBELAB_ROOT`), its own kubeconfig file
(the user's ~/.kube/config is never touched) and a LAN no address of the host is in.
`running_lab` brings one up and always takes it down; `Lab.down_and_check` is the shared
assertion that `kubelab down` left no namespace, link, process, file or iptables rule.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml

from tests.support import wait_until

KUBELAB = [str(Path(sys.executable).parent / "kubelab")]
AGNHOST = "registry.k8s.io/e2e-test-images/agnhost:2.39"


def free_lan() -> str:
    used = subprocess.run(["ip", "-o", "-4", "addr"], capture_output=True, text=True).stdout
    for _ in range(50):
        third = 16 + secrets.randbelow(230)
        if f" 10.252.{third}." not in used:
            return f"10.252.{third}.0/24"
    raise RuntimeError("no free 10.252.x.0/24 LAN on this host")


@dataclass
class Lab:
    name: str
    root: Path
    kubeconfig: Path
    lan_prefix: str
    home: Path
    pod_pids: list[psutil.Process] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(self.home),
            "KUBELAB_ROOT": str(self.root),
            "KUBECONFIG": str(self.kubeconfig),
        }

    def kubelab(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*KUBELAB, *args], capture_output=True, text=True, env=self.env(), timeout=timeout
        )

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["kubectl", "--kubeconfig", str(self.kubeconfig), "--request-timeout=20s", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=40,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)}: {done.stderr.strip()}")
        return done

    def apply(self, *objects: dict[str, Any]) -> None:
        self.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(objects))

    def pod(self, name: str) -> dict[str, Any]:
        got: dict[str, Any] = json.loads(self.kubectl("get", "pod", name, "-o", "json").stdout)
        return got

    def wait_phase(self, name: str, phase: str, timeout: float = 60) -> dict[str, Any]:
        def reached() -> dict[str, Any]:
            pod = self.pod(name)
            return pod if pod.get("status", {}).get("phase") == phase else {}

        try:
            return wait_until(reached, timeout, interval=0.5, message=f"pod {name} {phase}")
        except TimeoutError as exc:
            raise AssertionError(f"{exc}: {self.pod(name).get('status')}") from None

    def logs(self, tail: int = 1500) -> str:
        """The end of every process log of the lab (for failure messages)."""
        out = []
        for path in sorted((self.root / self.name / "logs").glob("*/*.log")):
            out.append(f"\n--- {path.parent.name}/{path.name}\n{path.read_text()[-tail:]}")
        return "".join(out)

    def netns(self) -> list[str]:
        out = subprocess.run(["ip", "-o", "netns", "list"], capture_output=True, text=True).stdout
        return [ln.split()[0] for ln in out.splitlines() if ln.startswith(f"{self.name}-")]

    def links(self) -> list[str]:
        out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
        names = [ln.split(":", 2)[1].strip().split("@")[0] for ln in out.splitlines()]
        return [n for n in names if n.startswith(self.name)]

    def down_and_check(self) -> None:
        """`kubelab down`, then nothing of the lab is left: netns, links, pod processes, files,
        its kubeconfig context, iptables rules."""
        assert self.netns(), "the lab should be up before down"
        for ns in self.netns():
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
            for pid in pids.stdout.split():
                try:
                    self.pod_pids.append(psutil.Process(int(pid)))
                except psutil.NoSuchProcess:
                    continue
        assert self.pod_pids
        down = self.kubelab("down", "--name", self.name, "--kubeconfig", str(self.kubeconfig))
        assert down.returncode == 0, down.stderr
        assert self.netns() == []
        assert self.links() == []
        survivors = [
            p for p in self.pod_pids if p.is_running() and p.status() != psutil.STATUS_ZOMBIE
        ]
        assert survivors == []
        assert not (self.root / self.name).exists()
        config = yaml.safe_load(self.kubeconfig.read_text())
        assert f"kubelab-{self.name}" not in json.dumps(config)
        rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
        assert self.name not in rules


def pinned(name: str, node: str, container: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "nodeSelector": {"kubernetes.io/hostname": node},
            "terminationGracePeriodSeconds": 2,
            "containers": [container],
            **spec,
        },
    }


@contextmanager
def running_lab(
    tmp_path_factory: pytest.TempPathFactory,
    *,
    tag: str,
    control_planes: int,
    nodes: int,
    store: str,
) -> Iterator[tuple[Lab, str]]:
    """`kubelab up` a fast-profile lab named `<tag><5 hex>`; yield it and its LAN; always down."""
    base = tmp_path_factory.mktemp("lab")
    (base / "home").mkdir()
    lan = free_lan()
    lab = Lab(
        name=f"{tag}{secrets.token_hex(3)[:5]}",
        root=base / "root",
        kubeconfig=base / "kubeconfig",
        lan_prefix=lan.rsplit(".", 1)[0] + ".",
        home=base / "home",
    )
    up = lab.kubelab(
        "up", "--name", lab.name, "--control-planes", str(control_planes),
        "--nodes", str(nodes), "--store", store, "--fast", "--lan", lan,
        "--kubeconfig", str(lab.kubeconfig), "--wait", "90",
    )  # fmt: skip
    try:
        assert up.returncode == 0, f"kubelab up failed:\n{up.stdout}\n{up.stderr}{lab.logs()}"
        yield lab, lan
    finally:
        down = lab.kubelab("down", "--name", lab.name, "--kubeconfig", str(lab.kubeconfig))
        for proc in lab.pod_pids:  # only if a test failed before checking down
            if proc.is_running():
                proc.kill()
    # Reached only when nothing failed: `down` (a no-op after `down_and_check`) must succeed.
    assert down.returncode == 0, f"kubelab down: {down.stderr}"
