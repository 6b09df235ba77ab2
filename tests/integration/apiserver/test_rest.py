"""The REST front end directly: content negotiation, Tables, watch streams, Status errors."""

from __future__ import annotations

import http.client
import json
import secrets
import ssl
from collections.abc import Iterator
from typing import Any

import pytest

from controlplane.apiserver.storage import EtcdStore
from kubelab.client import NAMESPACES
from tests.integration.apiserver.conftest import Env

pytestmark = pytest.mark.timeout(60)

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"


class Rest:
    def __init__(self, env: Env) -> None:
        assert env.server.pki is not None
        ctx = ssl.create_default_context(cafile=str(env.server.pki.ca_cert))
        ctx.load_cert_chain(str(env.cert_dir / "admin.crt"), str(env.cert_dir / "admin.key"))
        self.conn = http.client.HTTPSConnection("127.0.0.1", env.server.rest_port, context=ctx)

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        ctype: str = "application/json",
        accept: str = "application/json",
    ) -> tuple[int, dict[str, str], Any]:
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        headers = {"Accept": accept, "Content-Type": ctype}
        self.conn.request(method, path, body=data, headers=headers)
        resp = self.conn.getresponse()
        raw = resp.read()
        return resp.status, dict(resp.getheaders()), json.loads(raw) if raw else None

    def stream(self, path: str, accept: str = "application/json") -> Iterator[dict[str, Any]]:
        self.conn.request("GET", path, headers={"Accept": accept})
        resp = self.conn.getresponse()
        assert resp.status == 200
        assert resp.getheader("Transfer-Encoding") == "chunked"
        while line := resp.readline():
            yield json.loads(line)


@pytest.fixture
def rest(env: Env) -> Iterator[Rest]:
    client = Rest(env)
    yield client
    client.conn.close()


@pytest.fixture
def ns(env: Env) -> str:
    name = f"r-{secrets.token_hex(3)}"
    env.client.create(NAMESPACES, {"metadata": {"name": name}})
    return name


def cm(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "1"}}


def test_discovery_flavours(rest: Rest) -> None:
    code, headers, body = rest.call("GET", "/api", accept=AGGREGATED)
    assert code == 200
    assert "as=APIGroupDiscoveryList" in headers["Content-Type"]
    assert body["kind"] == "APIGroupDiscoveryList"
    _, headers, body = rest.call("GET", "/api")
    assert body["kind"] == "APIVersions"
    assert rest.call("GET", "/apis/coordination.k8s.io")[2]["kind"] == "APIGroup"
    assert rest.call("GET", "/version")[2]["major"] == "1"
    assert rest.call("GET", "/apis/apps/v1")[0] == 404


def test_table_for_list_and_single_object(rest: Rest, ns: str) -> None:
    rest.call("POST", f"/api/v1/namespaces/{ns}/configmaps", cm("t1"))
    code, headers, table = rest.call("GET", f"/api/v1/namespaces/{ns}/configmaps", accept=TABLE)
    assert code == 200
    assert "as=Table" in headers["Content-Type"]
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Data", "Age"]
    assert table["rows"][0]["cells"][:2] == ["t1", 1]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    path = f"/api/v1/namespaces/{ns}/configmaps/t1?includeObject=Object"
    _, _, single = rest.call("GET", path, accept=TABLE)
    assert single["rows"][0]["object"]["data"] == {"a": "1"}


def test_yaml_body_dry_run_and_warnings(rest: Rest, ns: str) -> None:
    yaml_body = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\ndata:\n  k: v\n"
    path = f"/api/v1/namespaces/{ns}/configmaps"
    code, _, body = rest.call("POST", path, yaml_body, ctype="application/yaml")
    assert (code, body["data"]) == (201, {"k": "v"})
    code, _, _ = rest.call("POST", f"{path}?dryRun=All", cm("dry"))
    assert code == 201
    assert rest.call("GET", f"{path}/dry")[0] == 404
    unknown = dict(cm("warn"), extra=1)
    code, headers, _ = rest.call("POST", f"{path}?fieldValidation=Warn", unknown)
    assert code == 201
    assert "unknown field" in headers["Warning"]
    code, _, status = rest.call("POST", f"{path}?fieldValidation=Strict", dict(cm("s"), extra=1))
    assert (code, status["reason"]) == (422, "Invalid")
    assert status["details"]["causes"][0]["field"] == "extra"


def test_status_errors(rest: Rest, ns: str) -> None:
    path = f"/api/v1/namespaces/{ns}/configmaps"
    rest.call("POST", path, cm("dup"))
    code, _, status = rest.call("POST", path, cm("dup"))
    assert (code, status["kind"], status["reason"]) == (409, "Status", "AlreadyExists")
    code, _, status = rest.call("POST", path, b"{not json")
    assert (code, status["reason"]) == (400, "BadRequest")
    code, _, status = rest.call("GET", f"{path}?labelSelector=a%20in%20()")
    assert code == 400
    code, _, status = rest.call("GET", "/api/v1/pods?fieldSelector=spec.bogus%3D1")
    assert code == 400
    assert "spec.nodeName" in status["message"]
    code, _, status = rest.call("PATCH", f"{path}/dup", {"data": {}}, ctype="text/plain")
    assert code == 415


def test_watch_stream_over_rest(env: Env, rest: Rest, ns: str) -> None:
    path = f"/api/v1/namespaces/{ns}/configmaps"
    _, _, listed = rest.call("GET", path)
    rv = listed["metadata"]["resourceVersion"]
    env.client.create("configmaps", cm("w1"), namespace=ns)
    env.client.delete("configmaps", "w1", namespace=ns)
    watcher = Rest(env)
    events = watcher.stream(f"{path}?watch=true&resourceVersion={rv}&timeoutSeconds=5")
    first, second = next(events), next(events)
    assert (first["type"], second["type"]) == ("ADDED", "DELETED")
    assert first["object"]["metadata"]["name"] == "w1"
    watcher.conn.close()


def test_watch_from_a_compacted_revision_sends_a_410_error_event(env: Env, rest: Rest) -> None:
    store = EtcdStore(env.store.endpoints)
    env.client.create(NAMESPACES, {"metadata": {"name": f"bump-{secrets.token_hex(2)}"}})
    store.compact(store.revision())
    store.close()
    events = rest.stream("/api/v1/namespaces?watch=1&resourceVersion=1")
    event = next(events)
    assert event["type"] == "ERROR"
    assert (event["object"]["code"], event["object"]["reason"]) == (410, "Expired")
