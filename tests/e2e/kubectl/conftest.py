from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from controlplane.apiserver.server import Apiserver
from tests.integration.apiserver.cluster import run_apiserver, run_etcd

KUBECTLS = {
    "1.32": "/usr/lib/google-cloud-sdk/bin/kubectl.1.32",
    "1.33": "/usr/lib/google-cloud-sdk/bin/kubectl.1.33",
}


@dataclass
class Kubectl:
    binary: str
    kubeconfig: Path
    workdir: Path

    def run(
        self,
        *args: str,
        check: bool = True,
        stdin: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> subprocess.CompletedProcess[str]:
        full_env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(self.workdir),
            "KUBECONFIG": str(self.kubeconfig),
            **(env or {}),
        }
        proc = subprocess.run(
            [self.binary, *args],
            capture_output=True,
            text=True,
            input=stdin,
            env=full_env,
            timeout=timeout,
            cwd=self.workdir,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({proc.returncode}): {proc.stderr}"
            )
        return proc

    def __call__(self, *args: str, **kw: object) -> str:
        return self.run(*args, **kw).stdout  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Apiserver]:
    base = tmp_path_factory.mktemp("kubectl")
    with run_etcd(base / "etcd") as store, run_apiserver(store.endpoints, base / "pki") as server:
        yield server


@pytest.fixture(params=sorted(KUBECTLS), scope="module")
def kubectl(
    request: pytest.FixtureRequest, apiserver: Apiserver, tmp_path_factory: pytest.TempPathFactory
) -> Kubectl:
    binary = KUBECTLS[request.param]
    if not os.path.exists(binary):
        found = shutil.which("kubectl")
        if found is None:
            pytest.skip(f"kubectl {request.param} is not installed")
        binary = found
    assert apiserver.pki is not None
    return Kubectl(binary, apiserver.pki.admin_kubeconfig, tmp_path_factory.mktemp("home"))
