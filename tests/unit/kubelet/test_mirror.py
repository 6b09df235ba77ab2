"""Mirror pods: the pure plan (static pods + mirrors -> deletes, creates) and the object."""

from __future__ import annotations

from typing import Any

import pytest

from node_agent.kubelet.mirror import (
    MIRROR,
    is_mirror,
    is_static,
    mirror_object,
    plan_mirrors,
)
from node_agent.kubelet.static import static_pod

Object = dict[str, Any]
NODE = "node1"


def static(name: str, image: str = "busybox") -> Object:
    doc = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"containers": [{"name": "c", "image": image}]},
    }
    return static_pod(doc, NODE, f"{name}.yaml")


def mirror_of(pod: Object, uid: str = "m-1", **meta: Any) -> Object:
    m = mirror_object(pod, NODE, "node-uid")
    m["metadata"].update(uid=uid, **meta)
    return m


def names(objs: tuple[Object, ...]) -> list[str]:
    return [o["metadata"]["name"] for o in objs]


def test_the_mirror_object() -> None:
    s = static("web")
    m = mirror_object(s, NODE, "node-uid")
    meta = m["metadata"]
    assert meta["name"] == "web-node1"
    assert meta["namespace"] == "default"
    assert "uid" not in meta
    assert meta["labels"] == {"app": "web"}
    annotations = meta["annotations"]
    assert annotations["kubernetes.io/config.source"] == "file"
    assert annotations["kubernetes.io/config.hash"] == s["metadata"]["uid"]
    assert annotations[MIRROR] == annotations["kubernetes.io/config.hash"]
    assert meta["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Node", "name": NODE, "uid": "node-uid", "controller": True}
    ]
    assert m["spec"]["nodeName"] == NODE
    assert m["spec"]["containers"] == s["spec"]["containers"]
    assert "status" not in m
    assert is_mirror(m)
    assert not is_static(m)
    assert is_static(s)
    assert not is_mirror(s)
    assert not is_static({"metadata": {"name": "api-pod"}})
    m["spec"]["containers"][0]["image"] = "changed"  # a copy: the static pod is untouched
    assert s["spec"]["containers"][0]["image"] == "busybox"


@pytest.mark.parametrize(
    ("statics", "mirrors", "delete", "create"),
    [
        (["a", "b"], [], [], ["a-node1", "b-node1"]),
        (["a"], [("a", "same", {})], [], []),
        (["a"], [("a", "old-hash", {})], ["a-node1"], ["a-node1"]),
        ([], [("a", "same", {})], ["a-node1"], []),
        (["a"], [("a", "same", {"deletionTimestamp": "2026-01-01T00:00:00Z"})],
         ["a-node1"], ["a-node1"]),
    ],
    ids=["missing", "current", "manifest-changed", "manifest-removed", "user-deleted"],
)  # fmt: skip
def test_plan(
    statics: list[str],
    mirrors: list[tuple[str, str, dict[str, Any]]],
    delete: list[str],
    create: list[str],
) -> None:
    wanted = [static(n) for n in statics]
    found = []
    for name, hash_, meta in mirrors:
        m = mirror_of(static(name), **meta)
        if hash_ != "same":
            m["metadata"]["annotations"][MIRROR] = hash_
        found.append(m)
    plan = plan_mirrors(wanted, found)
    assert names(plan.delete) == delete
    assert names(plan.create) == create
    assert bool(plan) is bool(delete or create)


def test_plan_ignores_ordinary_pods_of_the_node() -> None:
    api_pod = {"metadata": {"name": "a-node1", "namespace": "default", "uid": "x"}}
    plan = plan_mirrors([static("a")], [api_pod])
    assert names(plan.create) == ["a-node1"]
    assert plan.delete == ()


def test_an_edited_manifest_gets_a_new_hash_and_so_a_new_mirror() -> None:
    old, new = static("a"), static("a", image="python")
    assert old["metadata"]["uid"] != new["metadata"]["uid"]
    plan = plan_mirrors([new], [mirror_of(old)])
    assert names(plan.delete) == ["a-node1"]
    assert (
        plan.create[0]["metadata"]["annotations"]["kubernetes.io/config.hash"]
        == (new["metadata"]["uid"])
    )
