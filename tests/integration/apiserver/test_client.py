"""kubelab.client against a real apiserver: informer, workqueue, leader election, failover."""

from __future__ import annotations

import functools
import secrets
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from controlplane.apiserver.certs import write_component_credentials
from controlplane.apiserver.server import Apiserver, ApiserverConfig
from kubelab.client import (
    CONFIGMAPS,
    EVENTS,
    LEASES,
    NAMESPACES,
    Client,
    Credentials,
    EventRecorder,
    Informer,
    LeaderElectionConfig,
    LeaderElector,
    WorkQueue,
)
from kubelab.client.errors import Unavailable
from tests.integration.apiserver.cluster import free_port, run_apiserver, run_etcd
from tests.integration.apiserver.conftest import Env
from tests.support import wait_until

pytestmark = pytest.mark.timeout(90)


def new_ns(env: Env) -> str:
    name = f"c-{secrets.token_hex(3)}"
    env.client.create(NAMESPACES, {"metadata": {"name": name}})
    return name


def test_informer_lists_watches_and_calls_handlers(env: Env) -> None:
    ns = new_ns(env)
    env.client.create(CONFIGMAPS, {"metadata": {"name": "pre"}}, namespace=ns)
    queue: WorkQueue[str] = WorkQueue()
    log: list[tuple[str, str]] = []
    informer = Informer(env.client, CONFIGMAPS, namespace=ns)

    def on_add(o: dict[str, Any]) -> None:
        log.append(("add", o["metadata"]["name"]))
        queue.add(o["metadata"]["name"])

    informer.add_handler(
        on_add=on_add,
        on_update=lambda old, new: log.append(("update", new["metadata"]["name"])),
        on_delete=lambda o: log.append(("delete", o["metadata"]["name"])),
    )
    informer.start()
    try:
        assert informer.wait_for_sync(10)
        assert informer.get(f"{ns}/pre") is not None
        env.client.create(CONFIGMAPS, {"metadata": {"name": "new"}}, namespace=ns)
        env.client.patch(CONFIGMAPS, "new", {"data": {"k": "v"}}, namespace=ns)
        env.client.delete(CONFIGMAPS, "pre", namespace=ns)
        wait_until(lambda: ("delete", "pre") in log, 10)
        assert log == [("add", "pre"), ("add", "new"), ("update", "new"), ("delete", "pre")]
        assert informer.get(f"{ns}/new")["data"] == {"k": "v"}  # type: ignore[index]
        assert {queue.get(timeout=1), queue.get(timeout=1)} == {"pre", "new"}
    finally:
        informer.stop()


def test_leader_election_one_leader_and_takeover(env: Env) -> None:
    ns = new_ns(env)
    leaders: list[str] = []
    electors = []
    for ident in ("a", "b"):
        cfg = LeaderElectionConfig(
            name="sched",
            namespace=ns,
            identity=ident,
            lease_duration=2,
            renew_deadline=1.5,
            retry_period=0.2,
        )
        electors.append(
            LeaderElector(
                env.client, cfg, on_started_leading=functools.partial(leaders.append, ident)
            )
        )
    for e in electors:
        e.start()
    try:
        wait_until(lambda: len(leaders) == 1, 10)
        first = leaders[0]
        lease = env.client.get(LEASES, "sched", namespace=ns)
        assert lease["spec"]["holderIdentity"] == first
        # the leader stops (and releases); the other one takes over
        leader = next(e for e in electors if e.config.identity == first)
        leader.stop()
        wait_until(lambda: len(leaders) == 2, 10)
        assert leaders[1] != first
        assert env.client.get(LEASES, "sched", namespace=ns)["spec"]["leaseTransitions"] >= 1
    finally:
        for e in electors:
            e.stop()


def test_expired_lease_of_a_crashed_leader_is_taken_over(env: Env) -> None:
    ns = new_ns(env)
    past = (datetime.now(UTC) - timedelta(seconds=60)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    env.client.create(
        LEASES,
        {
            "metadata": {"name": "l"},
            "spec": {
                "holderIdentity": "dead",
                "leaseDurationSeconds": 15,
                "renewTime": past,
                "acquireTime": past,
            },
        },
        namespace=ns,
    )
    got = threading.Event()
    e = LeaderElector(
        env.client,
        LeaderElectionConfig("l", ns, "alive", retry_period=0.2),
        on_started_leading=got.set,
    )
    e.start()
    try:
        assert got.wait(10)
    finally:
        e.stop()


def test_client_fails_over_to_a_second_apiserver(env: Env, tmp_path: Path) -> None:
    ns = new_ns(env)
    with run_apiserver(env.store.endpoints, env.cert_dir) as second:
        client = Client.from_cert_dir(
            env.cert_dir, [f"127.0.0.1:{second.grpc_port}", f"127.0.0.1:{env.server.grpc_port}"]
        )
        client.create(CONFIGMAPS, {"metadata": {"name": "via-second"}}, namespace=ns)
        informer = Informer(client, CONFIGMAPS, namespace=ns)
        informer.start()
        assert informer.wait_for_sync(10)
        second.stop()
        # calls and the informer's watch move to the first apiserver
        env.client.create(CONFIGMAPS, {"metadata": {"name": "after"}}, namespace=ns)
        assert client.get(CONFIGMAPS, "after", namespace=ns)["metadata"]["name"] == "after"
        wait_until(lambda: informer.get(f"{ns}/after") is not None, 20)
        informer.stop()
        client.close()


def test_event_recorder_creates_then_counts_repeats(env: Env) -> None:
    ns = new_ns(env)
    cm = env.client.create(CONFIGMAPS, {"metadata": {"name": "subject"}}, namespace=ns)
    recorder = EventRecorder(env.client, component="kubelet", host="node-1")
    first = recorder.event(cm, "Normal", "Synced", "all good")
    again = recorder.event(cm, "Normal", "Synced", "all good")
    assert first is not None
    assert again is not None
    assert again["metadata"]["name"] == first["metadata"]["name"]
    assert again["count"] == 2
    uid = cm["metadata"]["uid"]
    found = env.client.list(
        EVENTS, namespace=ns, field_selector=f"involvedObject.uid={uid},involvedObject.name=subject"
    ).items
    assert [(e["reason"], e["source"]["component"]) for e in found] == [("Synced", "kubelet")]


def test_component_credentials_authenticate_over_grpc(env: Env) -> None:
    kubeconfig = write_component_credentials(
        env.cert_dir,
        "scheduler",
        user="system:kube-scheduler",
        groups=(),
        server_url=f"https://127.0.0.1:{env.server.rest_port}",
    )
    assert kubeconfig.exists()
    client = Client.from_cert_dir(
        env.cert_dir, [f"127.0.0.1:{env.server.grpc_port}"], user="scheduler"
    )
    assert client.list(NAMESPACES).items
    client.close()


def test_apiserver_started_before_its_store_waits_for_it(tmp_path: Path) -> None:
    port = free_port()
    server = Apiserver(
        ApiserverConfig(
            etcd_servers=(f"127.0.0.1:{port}",),
            cert_dir=tmp_path / "pki",
            secure_port=0,
            grpc_port=0,
        )
    )
    started = threading.Thread(target=server.start, daemon=True)
    started.start()
    try:
        with run_etcd(tmp_path / "etcd", client_port=port):
            started.join(30)
            assert not started.is_alive()
            client = Client.from_cert_dir(tmp_path / "pki", [f"127.0.0.1:{server.grpc_port}"])
            names = {n["metadata"]["name"] for n in client.list(NAMESPACES).items}
            assert "kube-system" in names
            client.close()
            server.stop()
    finally:
        started.join(5)


def test_client_from_the_admin_kubeconfig(env: Env) -> None:
    assert env.server.pki is not None
    client = Client.from_kubeconfig(env.server.pki.admin_kubeconfig, grpc_port=env.server.grpc_port)
    assert client.endpoints == [f"127.0.0.1:{env.server.grpc_port}"]
    assert client.get(NAMESPACES, "default")["metadata"]["name"] == "default"
    client.close()


def test_grpc_refuses_a_client_without_a_certificate(env: Env) -> None:
    assert env.server.pki is not None
    ca = env.server.pki.ca_cert.read_bytes()
    anonymous = Client([f"127.0.0.1:{env.server.grpc_port}"], Credentials(ca, b"", b""), timeout=5)
    with pytest.raises(Unavailable):
        anonymous.list(NAMESPACES)
    anonymous.close()


def test_events_expire_after_the_event_ttl(env: Env, tmp_path: Path) -> None:
    with run_apiserver(env.store.endpoints, env.cert_dir, event_ttl=2) as short:
        client = Client.from_cert_dir(env.cert_dir, [f"127.0.0.1:{short.grpc_port}"])
        ns = new_ns(env)
        cm = client.create(CONFIGMAPS, {"metadata": {"name": "e"}}, namespace=ns)
        event = EventRecorder(client, component="test").event(cm, "Normal", "Ping", "hello")
        assert event is not None
        cm_kept = client.get(CONFIGMAPS, "e", namespace=ns)

        def expired() -> bool:
            return not client.list(EVENTS, namespace=ns).items

        wait_until(expired, 20, interval=0.25)
        assert client.get(CONFIGMAPS, "e", namespace=ns) == cm_kept  # only events expire
        client.close()
