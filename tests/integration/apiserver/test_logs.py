"""pods/log is proxied to the kubelet of the pod's node; clear errors when there is none."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from kubelab.client import NAMESPACES, NODES, PODS
from tests.integration.apiserver.cluster import FakeKubelet, free_port, node_at
from tests.integration.apiserver.conftest import Env
from tests.integration.apiserver.test_rest import Rest

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def kubelet(env: Env) -> Iterator[FakeKubelet]:
    fake = FakeKubelet(env.cert_dir, {})
    yield fake
    fake.stop()


def raw_get(rest: Rest, path: str) -> tuple[int, str]:
    rest.conn.request("GET", path)
    resp = rest.conn.getresponse()
    return resp.status, resp.read().decode()


def test_pod_log_is_proxied_to_the_nodes_kubelet(env: Env, kubelet: FakeKubelet) -> None:
    ns = f"l-{secrets.token_hex(3)}"
    node = f"node-{secrets.token_hex(2)}"
    env.client.create(NAMESPACES, {"metadata": {"name": ns}})
    env.client.create(NODES, node_at(node, kubelet.port))
    pod = {"metadata": {"name": "web"}, "spec": {"containers": [{"name": "c", "image": "x"}]}}
    env.client.create(PODS, pod, namespace=ns)
    rest = Rest(env)
    code, text = raw_get(rest, f"/api/v1/namespaces/{ns}/pods/web/log")
    assert (code, "does not have a host assigned" in text) == (400, True)
    env.client.bind(ns, "web", node)
    kubelet_logs_path = f"{ns}/web/c"
    code, text = raw_get(rest, f"/api/v1/namespaces/{ns}/pods/web/log?tailLines=5")
    assert code == 404  # the fake kubelet has no such log yet
    assert kubelet.requests[-1] == f"/containerLogs/{kubelet_logs_path}?tailLines=5"
    env.client.delete(NODES, node)
    fake = FakeKubelet(env.cert_dir, {kubelet_logs_path: "line 1\nline 2\n"})
    try:
        env.client.create(NODES, node_at(node, fake.port))
        code, text = raw_get(rest, f"/api/v1/namespaces/{ns}/pods/web/log")
        assert (code, text) == (200, "line 1\nline 2\n")
    finally:
        fake.stop()
        env.client.delete(NODES, node)
    env.client.create(NODES, node_at(node, free_port()))  # nothing listens there
    code, text = raw_get(rest, f"/api/v1/namespaces/{ns}/pods/web/log")
    assert code == 503
    assert "is not answering" in text
    env.client.delete(NODES, node)
    rest.conn.close()
