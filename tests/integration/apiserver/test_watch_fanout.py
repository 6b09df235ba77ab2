"""gRPC watch fan-out on the apiserver's event loop: many streams, bursts, streams that go away,
deadlines, errors, and watches older than the cache (served from a direct store watch)."""

from __future__ import annotations

import secrets
import threading
import time
from pathlib import Path

import pytest

from kubelab.client import CONFIGMAPS, NAMESPACES, Client, WatchEvent
from kubelab.client.errors import NotFound
from kubelab.client.resources import GVR
from tests.integration.apiserver.cluster import grpc_client, run_apiserver
from tests.integration.apiserver.conftest import Env
from tests.support import wait_until

pytestmark = pytest.mark.timeout(90)


def new_ns(client: Client) -> str:
    name = f"f-{secrets.token_hex(3)}"
    client.create(NAMESPACES, {"metadata": {"name": name}})
    return name


def names(events: list[WatchEvent]) -> list[str]:
    return [e.object["metadata"]["name"] for e in events]


def test_a_burst_reaches_every_stream_once_and_in_order(env: Env, tmp_path: Path) -> None:
    ns = new_ns(env.client)
    start = env.client.list(CONFIGMAPS, namespace=ns).resource_version
    caches_before = env.server.handlers.caches.watch_count()
    clients = [grpc_client(env.server, env.cert_dir) for _ in range(4)]
    streams, writes = 40, 20
    seen: list[list[WatchEvent]] = [[] for _ in range(streams)]
    watches = [
        clients[i % 4].watch(CONFIGMAPS, namespace=ns, resource_version=start)
        for i in range(streams)
    ]

    def run(i: int) -> None:
        for ev in watches[i]:
            seen[i].append(ev)
            if len(seen[i]) == writes:
                return

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(streams)]
    for t in threads:
        t.start()
    try:
        for i in range(writes):  # back to back: batches of several events per wake-up
            env.client.create(CONFIGMAPS, {"metadata": {"name": f"b{i:02d}"}}, namespace=ns)
        wait_until(lambda: all(len(s) >= writes for s in seen), 30)
    finally:
        for w in watches:
            w.stop()
        for c in clients:
            c.close()
    want = [f"b{i:02d}" for i in range(writes)]
    assert all(names(s) == want for s in seen)
    assert all({e.type for e in s} == {"ADDED"} for s in seen)
    # one store watch per resource (configmaps, and namespaces for the creates' checks), not
    # one per stream
    assert env.server.handlers.caches.watch_count() <= caches_before + 2


def test_a_stream_that_goes_away_does_not_stall_the_others(env: Env) -> None:
    ns = new_ns(env.client)
    start = env.client.list(CONFIGMAPS, namespace=ns).resource_version
    leaver = env.client.watch(CONFIGMAPS, namespace=ns, resource_version=start)
    stayer = env.client.watch(CONFIGMAPS, namespace=ns, resource_version=start)
    got: list[WatchEvent] = []

    def stay() -> None:
        for ev in stayer:
            got.append(ev)
            if len(got) == 2:
                return

    def leave() -> None:
        for _ in leaver:
            pass

    threads = [threading.Thread(target=fn, daemon=True) for fn in (stay, leave)]
    for t in threads:
        t.start()
    env.client.create(CONFIGMAPS, {"metadata": {"name": "one"}}, namespace=ns)
    wait_until(lambda: len(got) == 1, 10)
    leaver.stop()  # cancels its RPC while the server waits for the next batch
    threads[1].join(10)
    time.sleep(0.1)  # let the cancellation reach the server before the next write
    env.client.create(CONFIGMAPS, {"metadata": {"name": "two"}}, namespace=ns)
    wait_until(lambda: len(got) == 2, 10)
    stayer.stop()
    assert names(got) == ["one", "two"]


def test_a_watch_ends_at_its_timeout(env: Env) -> None:
    ns = new_ns(env.client)
    watch = env.client.watch(CONFIGMAPS, namespace=ns, timeout_seconds=1, bookmarks=False)
    t0 = time.monotonic()
    assert list(watch) == []  # the server ends the stream; the client does not resume
    assert time.monotonic() - t0 < 10


def test_watch_of_an_unknown_resource_is_not_found(env: Env) -> None:
    with pytest.raises(NotFound):
        for _ in env.client.watch(GVR("", "v1", "nosuchthings"), namespace="default"):
            pass


def test_a_watch_older_than_the_cache_is_served_from_the_store(env: Env, tmp_path: Path) -> None:
    with run_apiserver(env.store.endpoints, tmp_path / "pki", cache_size=2) as server:
        client = grpc_client(server, tmp_path / "pki")
        try:
            ns = new_ns(client)
            start = client.list(CONFIGMAPS, namespace=ns).resource_version
            for i in range(5):
                client.create(CONFIGMAPS, {"metadata": {"name": f"o{i}"}}, namespace=ns)
            cache = server.handlers.caches.get("/registry/configmaps/")
            wait_until(lambda: cache.floor > int(start), 10)
            got: list[WatchEvent] = []
            watch = client.watch(CONFIGMAPS, namespace=ns, resource_version=start)
            for ev in watch:
                got.append(ev)
                if len(got) == 5:
                    break
            watch.stop()
            assert names(got) == [f"o{i}" for i in range(5)]
        finally:
            client.close()
