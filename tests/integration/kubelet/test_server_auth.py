"""Who may use the kubelet's :10250: a client certificate of the cluster CA (the apiserver's
kubelet client identity), or the bearer token; anonymous clients get 401."""

from __future__ import annotations

import http.client
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controlplane.apiserver.certs import Pki, ensure_pki
from node_agent.kubelet.certgen import self_signed
from node_agent.kubelet.runtime import ExecResult
from node_agent.kubelet.server import KubeletServer
from node_agent.kubelet.spec import PodSpec
from node_agent.kubelet.state import ObservedPod
from node_agent.kubelet.tlsconfig import server_context

pytestmark = [pytest.mark.timeout(60)]


class EmptyNode:
    def find_pod(self, namespace: str, name: str) -> PodSpec | None:
        return None

    def pod_list(self) -> list[dict[str, Any]]:
        return []

    def observe(self, pod: PodSpec) -> ObservedPod:
        raise AssertionError("no pods")

    def log_path(self, pod: PodSpec, container: str, attempt: int) -> Path:
        raise AssertionError("no pods")

    def exec(
        self, pod: PodSpec, name: str, argv: list[str], timeout: float, stdin: bytes = b""
    ) -> ExecResult:
        raise AssertionError("no pods")

    def exec_command(
        self, pod: PodSpec, name: str, argv: list[str]
    ) -> tuple[list[str], dict[str, str]] | ExecResult:
        raise AssertionError("no pods")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[KubeletServer, Pki, Pki]]:
    pki = ensure_pki(tmp_path / "pki", addresses=("127.0.0.1",))
    stranger = ensure_pki(tmp_path / "other", addresses=("127.0.0.1",))
    cert, key = tmp_path / "kubelet.crt", tmp_path / "kubelet.key"
    self_signed(cert, key, "node-1", ["127.0.0.1"])
    tls = server_context(cert, key, pki.ca_cert)
    server = KubeletServer(EmptyNode(), "127.0.0.1", 0, "s3cret", tls)
    server.start()
    try:
        yield server, pki, stranger
    finally:
        server.stop()


def get(port: int, path: str, cert: tuple[Path, Path] | None = None, token: str = "") -> int:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if cert is not None:
        ctx.load_cert_chain(*cert)
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
        return conn.getresponse().status
    finally:
        conn.close()


def test_client_certificate_of_the_cluster_ca_or_token(
    cluster: tuple[KubeletServer, Pki, Pki],
) -> None:
    server, pki, stranger = cluster
    apiserver = (pki.kubelet_client_cert, pki.kubelet_client_key)
    assert get(server.port, "/healthz") == 200
    assert get(server.port, "/pods") == 401
    assert get(server.port, "/pods", token="wrong") == 401
    assert get(server.port, "/pods", token="s3cret") == 200
    assert get(server.port, "/pods", cert=apiserver) == 200
    assert get(server.port, "/containerLogs/default/p/c", cert=apiserver) == 404
    # A certificate of another CA fails the TLS handshake: never authenticated.
    with pytest.raises((ssl.SSLError, ConnectionError)):
        get(server.port, "/pods", cert=(stranger.kubelet_client_cert, stranger.kubelet_client_key))
