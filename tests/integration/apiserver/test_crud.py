"""CRUD, conflicts, graceful deletion and paging through the handlers, against a real store."""

from __future__ import annotations

import json
import secrets
import ssl
import urllib.error
import urllib.request
from typing import Any

import pytest

from controlplane.apiserver.storage import EtcdStore
from kubelab.client import CONFIGMAPS, NAMESPACES, NODES, PODS
from kubelab.client.errors import AlreadyExists, Conflict, Forbidden, Gone, Invalid, NotFound
from kubelab.gen.api import api_pb2
from tests.integration.apiserver.conftest import Env
from tests.support import wait_until

pytestmark = pytest.mark.timeout(60)


def new_ns(env: Env) -> str:
    name = f"t-{secrets.token_hex(3)}"
    env.client.create(NAMESPACES, {"metadata": {"name": name}})
    return name


def pod(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}], **spec},
    }


def test_system_namespaces_exist_and_cannot_be_deleted(env: Env) -> None:
    names = {n["metadata"]["name"] for n in env.client.list(NAMESPACES).items}
    assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= names
    with pytest.raises(Forbidden):
        env.client.delete(NAMESPACES, "kube-system")


def test_create_get_update_delete(env: Env) -> None:
    ns = new_ns(env)
    created = env.client.create(PODS, pod("web"), namespace=ns)
    meta = created["metadata"]
    assert meta["namespace"] == ns
    assert meta["uid"]
    assert meta["creationTimestamp"].endswith("Z")
    rv = int(meta["resourceVersion"])
    got = env.client.get(PODS, "web", namespace=ns)
    assert got["metadata"]["resourceVersion"] == str(rv)
    got["metadata"]["labels"]["tier"] = "fe"
    updated = env.client.update(PODS, got)
    assert int(updated["metadata"]["resourceVersion"]) > rv
    assert updated["metadata"]["generation"] == 1
    env.client.delete(PODS, "web", namespace=ns)
    with pytest.raises(NotFound):
        env.client.get(PODS, "web", namespace=ns)


def test_create_existing_name_is_already_exists(env: Env) -> None:
    ns = new_ns(env)
    env.client.create(CONFIGMAPS, {"metadata": {"name": "c"}, "data": {"a": "1"}}, namespace=ns)
    with pytest.raises(AlreadyExists) as info:
        env.client.create(CONFIGMAPS, {"metadata": {"name": "c"}}, namespace=ns)
    assert info.value.code == 409


def test_stale_resource_version_is_a_conflict(env: Env) -> None:
    ns = new_ns(env)
    first = env.client.create(
        CONFIGMAPS, {"metadata": {"name": "c"}, "data": {"a": "1"}}, namespace=ns
    )
    second = dict(first, data={"a": "2"})
    env.client.update(CONFIGMAPS, second)
    stale = dict(first, data={"a": "3"})
    with pytest.raises(Conflict):
        env.client.update(CONFIGMAPS, stale)
    assert env.client.get(CONFIGMAPS, "c", namespace=ns)["data"] == {"a": "2"}


def test_invalid_object_reports_all_causes(env: Env) -> None:
    ns = new_ns(env)
    bad = pod("Bad_Name", restartPolicy="Sometimes")
    bad["spec"]["containers"].append({"name": "c", "image": ""})
    with pytest.raises(Invalid) as info:
        env.client.create(PODS, bad, namespace=ns)
    fields = {c.field for c in info.value.causes}
    assert {
        "metadata.name",
        "spec.restartPolicy",
        "spec.containers[1].name",
        "spec.containers[1].image",
    } <= fields


def test_create_in_missing_namespace_is_not_found(env: Env) -> None:
    with pytest.raises(NotFound):
        env.client.create(PODS, pod("x"), namespace="no-such-ns")


def test_dry_run_does_not_store(env: Env) -> None:
    ns = new_ns(env)
    out = env.client.create(PODS, pod("dry"), namespace=ns, dry_run=True)
    assert out["spec"]["restartPolicy"] == "Always"
    with pytest.raises(NotFound):
        env.client.get(PODS, "dry", namespace=ns)


def test_graceful_pod_deletion_then_kubelet_finishes(env: Env) -> None:
    ns = new_ns(env)
    env.client.create(PODS, pod("g"), namespace=ns)
    env.client.bind(ns, "g", "node-1")
    terminating = env.client.delete(PODS, "g", namespace=ns)
    assert terminating["metadata"]["deletionGracePeriodSeconds"] == 30
    assert terminating["metadata"]["deletionTimestamp"]
    assert env.client.get(PODS, "g", namespace=ns)["metadata"]["deletionTimestamp"]
    env.client.delete(PODS, "g", namespace=ns, grace_period_seconds=0)  # what the kubelet does
    with pytest.raises(NotFound):
        env.client.get(PODS, "g", namespace=ns)


def test_unscheduled_pod_is_deleted_at_once(env: Env) -> None:
    ns = new_ns(env)
    env.client.create(PODS, pod("u"), namespace=ns)
    env.client.delete(PODS, "u", namespace=ns)
    with pytest.raises(NotFound):
        env.client.get(PODS, "u", namespace=ns)


def test_finalizers_hold_deletion_until_removed(env: Env) -> None:
    ns = new_ns(env)
    env.client.create(
        CONFIGMAPS, {"metadata": {"name": "f", "finalizers": ["example.com/hold"]}}, namespace=ns
    )
    held = env.client.delete(CONFIGMAPS, "f", namespace=ns)
    assert held["metadata"]["deletionTimestamp"]
    env.client.patch(
        CONFIGMAPS,
        "f",
        [{"op": "remove", "path": "/metadata/finalizers"}],
        namespace=ns,
        patch_type="json",
    )
    with pytest.raises(NotFound):
        env.client.get(CONFIGMAPS, "f", namespace=ns)


def test_binding_and_status_subresource(env: Env) -> None:
    ns = new_ns(env)
    env.client.create(PODS, pod("b"), namespace=ns)
    bound = env.client.bind(ns, "b", "node-7")
    assert bound["spec"]["nodeName"] == "node-7"
    assert any(c["type"] == "PodScheduled" for c in bound["status"]["conditions"])
    with pytest.raises(Conflict):
        env.client.bind(ns, "b", "node-8")
    current = env.client.get(PODS, "b", namespace=ns)
    current["status"]["phase"] = "Running"
    current["status"]["podIP"] = "10.244.0.9"
    env.client.update_status(PODS, current)
    got = env.client.get(PODS, "b", namespace=ns)
    assert (got["status"]["phase"], got["metadata"]["generation"]) == ("Running", 1)
    listed = env.client.list(
        PODS, namespace=ns, field_selector="spec.nodeName=node-7,status.phase=Running"
    )
    assert [p["metadata"]["name"] for p in listed.items] == ["b"]


def test_patch_formats(env: Env) -> None:
    ns = new_ns(env)
    env.client.create(PODS, pod("p"), namespace=ns)
    env.client.patch(
        PODS,
        "p",
        {"spec": {"containers": [{"name": "c", "image": "busybox:2"}]}},
        namespace=ns,
        patch_type="strategic",
    )
    env.client.patch(PODS, "p", {"metadata": {"labels": {"m": "1"}}}, namespace=ns)
    env.client.patch(
        PODS,
        "p",
        [{"op": "add", "path": "/metadata/labels/j", "value": "2"}],
        namespace=ns,
        patch_type="json",
    )
    got = env.client.get(PODS, "p", namespace=ns)
    assert got["spec"]["containers"][0]["image"] == "busybox:2"
    assert got["spec"]["containers"][0]["terminationMessagePath"] == "/dev/termination-log"
    assert got["metadata"]["labels"] == {"app": "p", "m": "1", "j": "2"}
    assert got["metadata"]["generation"] == 2


def test_paging_is_consistent_and_complete(env: Env) -> None:
    ns = new_ns(env)
    for i in range(7):
        env.client.create(
            CONFIGMAPS,
            {"metadata": {"name": f"cm-{i}", "labels": {"odd": str(i % 2)}}},
            namespace=ns,
        )
    first = env.client.list(CONFIGMAPS, namespace=ns, limit=3)
    assert len(first.items) == 3
    assert first.continue_token
    env.client.create(CONFIGMAPS, {"metadata": {"name": "cm-late"}}, namespace=ns)
    names = [o["metadata"]["name"] for o in first.items]
    token = first.continue_token
    while token:
        page = env.client.list(CONFIGMAPS, namespace=ns, limit=3, continue_token=token)
        assert page.resource_version == first.resource_version  # one snapshot
        names += [o["metadata"]["name"] for o in page.items]
        token = page.continue_token
    assert names == [f"cm-{i}" for i in range(7)]
    odd = env.client.list(CONFIGMAPS, namespace=ns, label_selector="odd=1", limit=2)
    assert [o["metadata"]["name"] for o in odd.items] == ["cm-1", "cm-3"]
    assert len(env.client.list_all(CONFIGMAPS, namespace=ns, page=2).items) == 8


def test_list_at_exact_resource_version(env: Env) -> None:
    ns = new_ns(env)
    env.client.create(CONFIGMAPS, {"metadata": {"name": "a"}}, namespace=ns)
    before = env.client.list(CONFIGMAPS, namespace=ns)
    env.client.create(CONFIGMAPS, {"metadata": {"name": "b"}}, namespace=ns)
    old = env.client.list(CONFIGMAPS, namespace=ns, resource_version=before.resource_version)
    assert len(old.items) == 2  # NotOlderThan: the latest
    req_exact = env.client.list  # Exact match reads the snapshot
    stub_req = api_pb2.ListRequest(
        ref=api_pb2.ResourceRef(version="v1", resource="configmaps", namespace=ns),
        resource_version=before.resource_version,
        resource_version_match="Exact",
    )
    resp = env.client._call(lambda s: s.List(stub_req, timeout=5))
    assert [json.loads(i)["metadata"]["name"] for i in resp.items] == ["a"]
    assert req_exact is not None


def test_continue_token_after_compaction_is_gone(env: Env) -> None:
    ns = new_ns(env)
    for i in range(3):
        env.client.create(CONFIGMAPS, {"metadata": {"name": f"c{i}"}}, namespace=ns)
    page = env.client.list(CONFIGMAPS, namespace=ns, limit=1)
    env.client.create(CONFIGMAPS, {"metadata": {"name": "bump"}}, namespace=ns)
    store = EtcdStore(env.store.endpoints)
    store.compact(store.revision())
    store.close()
    with pytest.raises(Gone):
        env.client.list(CONFIGMAPS, namespace=ns, limit=1, continue_token=page.continue_token)


def test_namespace_deletion_removes_its_content(env: Env) -> None:
    ns = new_ns(env)
    env.client.create(CONFIGMAPS, {"metadata": {"name": "c"}}, namespace=ns)
    env.client.delete(NAMESPACES, ns)

    def gone() -> bool:
        try:
            env.client.get(NAMESPACES, ns)
        except NotFound:
            return True
        return False

    wait_until(gone, 10)
    assert env.client.list(CONFIGMAPS, namespace=ns).items == []


def test_cluster_scoped_node(env: Env) -> None:
    name = f"node-{secrets.token_hex(2)}"
    env.client.create(
        NODES, {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}}}
    )
    node = env.client.get(NODES, name)
    assert "namespace" not in node["metadata"]
    env.client.delete(NODES, name)


def _https(env: Env, path: str, *, cert: bool) -> tuple[int, dict[str, Any]]:
    assert env.server.pki is not None
    ctx = ssl.create_default_context(cafile=str(env.server.pki.ca_cert))
    if cert:
        ctx.load_cert_chain(str(env.cert_dir / "admin.crt"), str(env.cert_dir / "admin.key"))
    url = f"https://127.0.0.1:{env.server.rest_port}{path}"
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_rest_requires_a_client_certificate(env: Env) -> None:
    code, body = _https(env, "/api/v1/namespaces", cert=False)
    assert (code, body["reason"]) == (401, "Unauthorized")
    code, body = _https(env, "/api/v1/namespaces", cert=True)
    assert code == 200
    assert body["kind"] == "NamespaceList"
    code, body = _https(env, "/api/v1/namespaces/default/pods/nope", cert=True)
    assert (code, body["kind"], body["reason"]) == (404, "Status", "NotFound")
    code, body = _https(env, "/api/v1/namespaces/default/pods/nope/log", cert=True)
    assert code in (404, 501)
