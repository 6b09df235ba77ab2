"""Watch: from a resourceVersion, nothing lost or repeated, selectors, 410 Gone, bookmarks."""

from __future__ import annotations

import json
import secrets
import threading
from typing import Any

import pytest

from controlplane.apiserver.storage import EtcdStore
from kubelab.client import CONFIGMAPS, NAMESPACES, PODS, WatchEvent
from kubelab.client.errors import Gone
from kubelab.gen.api import api_pb2
from tests.integration.apiserver.conftest import Env
from tests.support import wait_until

pytestmark = pytest.mark.timeout(60)


def new_ns(env: Env) -> str:
    name = f"w-{secrets.token_hex(3)}"
    env.client.create(NAMESPACES, {"metadata": {"name": name}})
    return name


def collect(env: Env, want: int, **kw: Any) -> list[WatchEvent]:
    events: list[WatchEvent] = []
    watch = env.client.watch(CONFIGMAPS, **kw)

    def run() -> None:
        for ev in watch:
            events.append(ev)
            if len(events) >= want:
                watch.stop()
                return

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(20)
    watch.stop()
    return events


def test_watch_from_resource_version_sees_every_change_once(env: Env) -> None:
    ns = new_ns(env)
    start = env.client.list(CONFIGMAPS, namespace=ns).resource_version
    env.client.create(CONFIGMAPS, {"metadata": {"name": "a"}, "data": {"v": "1"}}, namespace=ns)
    env.client.patch(CONFIGMAPS, "a", {"data": {"v": "2"}}, namespace=ns)
    env.client.create(CONFIGMAPS, {"metadata": {"name": "b"}}, namespace=ns)
    env.client.delete(CONFIGMAPS, "a", namespace=ns)
    events = collect(env, 4, namespace=ns, resource_version=start)
    assert [(e.type, e.object["metadata"]["name"]) for e in events] == [
        ("ADDED", "a"),
        ("MODIFIED", "a"),
        ("ADDED", "b"),
        ("DELETED", "a"),
    ]
    rvs = [int(e.object["metadata"]["resourceVersion"]) for e in events]
    assert rvs == sorted(rvs)
    assert len(set(rvs)) == 4
    # Resume from the middle: only what came after.
    resumed = collect(env, 2, namespace=ns, resource_version=str(rvs[1]))
    assert [e.type for e in resumed] == ["ADDED", "DELETED"]


def test_watch_without_resource_version_starts_with_current_state(env: Env) -> None:
    ns = new_ns(env)
    env.client.create(CONFIGMAPS, {"metadata": {"name": "x"}}, namespace=ns)
    events = collect(env, 1, namespace=ns)
    assert [(e.type, e.object["metadata"]["name"]) for e in events] == [("ADDED", "x")]


def test_label_selector_transitions_become_added_and_deleted(env: Env) -> None:
    ns = new_ns(env)
    start = env.client.list(CONFIGMAPS, namespace=ns).resource_version
    env.client.create(CONFIGMAPS, {"metadata": {"name": "s", "labels": {"on": "no"}}}, namespace=ns)
    env.client.patch(CONFIGMAPS, "s", {"metadata": {"labels": {"on": "yes"}}}, namespace=ns)
    env.client.patch(CONFIGMAPS, "s", {"metadata": {"labels": {"on": "no"}}}, namespace=ns)
    events = collect(env, 2, namespace=ns, resource_version=start, label_selector="on=yes")
    assert [e.type for e in events] == ["ADDED", "DELETED"]


def test_field_selector_on_pods(env: Env) -> None:
    ns = new_ns(env)
    start = env.client.list(PODS, namespace=ns).resource_version
    for name in ("p1", "p2"):
        env.client.create(
            PODS,
            {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
            namespace=ns,
        )
    env.client.bind(ns, "p2", "node-x")
    seen: list[WatchEvent] = []
    watch = env.client.watch(PODS, resource_version=start, field_selector="spec.nodeName=node-x")
    for ev in watch:
        seen.append(ev)
        break
    watch.stop()
    assert [(e.type, e.object["metadata"]["name"]) for e in seen] == [("ADDED", "p2")]


def test_watch_from_compacted_revision_is_gone(env: Env) -> None:
    ns = new_ns(env)
    old = env.client.list(CONFIGMAPS, namespace=ns).resource_version
    env.client.create(CONFIGMAPS, {"metadata": {"name": "c1"}}, namespace=ns)
    env.client.create(CONFIGMAPS, {"metadata": {"name": "c2"}}, namespace=ns)
    store = EtcdStore(env.store.endpoints)
    store.compact(store.revision())
    store.close()
    # the cache window still holds these events; only a revision older than it hits the store
    with pytest.raises(Gone):
        for _ in env.client.watch(CONFIGMAPS, namespace=ns, resource_version="1"):
            pass
    assert collect(env, 2, namespace=ns, resource_version=old)


def test_bookmarks_carry_progress(env: Env) -> None:
    ns = new_ns(env)
    rv = env.client.list(CONFIGMAPS, namespace=ns).resource_version
    req = api_pb2.WatchRequest(
        ref=api_pb2.ResourceRef(version="v1", resource="configmaps", namespace=ns),
        resource_version=rv,
        allow_bookmarks=True,
        timeout_seconds=3,
    )
    stream, _ = env.client._open_watch(req)
    types = []
    for msg in stream:
        types.append(msg.type)
        if msg.type == "BOOKMARK":
            stream.cancel()
            break
    assert "BOOKMARK" in types


def test_many_watchers_share_one_store_watch(env: Env) -> None:
    ns = new_ns(env)
    start = env.client.list(CONFIGMAPS, namespace=ns).resource_version
    caches_before = env.server.handlers.caches.watch_count()
    results: list[list[WatchEvent]] = [[] for _ in range(10)]
    watches = [
        env.client.watch(CONFIGMAPS, namespace=ns, resource_version=start) for _ in range(10)
    ]

    def run(i: int) -> None:
        for ev in watches[i]:
            results[i].append(ev)
            if len(results[i]) == 3:
                return

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(10)]
    for t in threads:
        t.start()
    for i in range(3):
        env.client.create(CONFIGMAPS, {"metadata": {"name": f"m{i}"}}, namespace=ns)
    wait_until(lambda: all(len(r) == 3 for r in results), 20)
    for w in watches:
        w.stop()
    assert env.server.handlers.caches.watch_count() <= caches_before + 1
    assert all([e.object["metadata"]["name"] for e in r] == ["m0", "m1", "m2"] for r in results)


def test_watch_from_now_ends_the_initial_state_with_a_resumable_bookmark(env: Env) -> None:
    ns = new_ns(env)
    for name in ("b", "a"):
        env.client.create(CONFIGMAPS, {"metadata": {"name": name}}, namespace=ns)
    watch = env.client.watch(CONFIGMAPS, namespace=ns)
    seen = []
    for ev in watch:
        seen.append(ev.object["metadata"]["name"])
        if len(seen) == 2:
            break
    # the initial objects' own resourceVersions are not a resume point; the bookmark's is
    assert watch.resource_version == ""
    req = api_pb2.WatchRequest(
        ref=api_pb2.ResourceRef(version="v1", resource="configmaps", namespace=ns),
        allow_bookmarks=True,
        timeout_seconds=5,
    )
    stream, _ = env.client._open_watch(req)
    kinds = []
    for msg in stream:
        kinds.append(msg.type)
        if msg.type == "BOOKMARK":
            meta = json.loads(msg.object)["metadata"]
            assert meta["annotations"] == {"k8s.io/initial-events-end": "true"}
            assert int(meta["resourceVersion"]) >= max(
                int(o["metadata"]["resourceVersion"])
                for o in env.client.list(CONFIGMAPS, namespace=ns).items
            )
            stream.cancel()
            break
    assert kinds == ["ADDED", "ADDED", "BOOKMARK"]
    assert sorted(seen) == ["a", "b"]
    watch.stop()
