"""The apiserver fails over across several --etcd-servers when the one it uses dies."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from kubelab.client import CONFIGMAPS, Informer
from kubelab.client.errors import AlreadyExists
from tests.integration.apiserver.cluster import grpc_client, run_apiserver, run_etcd_cluster
from tests.support import wait_until

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]


def test_apiserver_survives_the_loss_of_its_etcd_member(tmp_path: Path) -> None:
    with run_etcd_cluster(tmp_path / "etcd", members=3) as members:
        endpoints = [m.endpoints[0] for m in members]
        with run_apiserver(endpoints, tmp_path / "pki", bookmark_interval=0.5) as server:
            client = grpc_client(server, tmp_path / "pki")
            client.create(CONFIGMAPS, {"metadata": {"name": "before"}}, namespace="default")
            informer = Informer(client, CONFIGMAPS, namespace="default")
            informer.start()
            assert informer.wait_for_sync(10)
            members[0].stop()  # the member the apiserver talks to (the first endpoint)

            def create_after() -> bool:
                # an earlier attempt may have landed although its answer was lost
                with contextlib.suppress(AlreadyExists):
                    client.create(CONFIGMAPS, {"metadata": {"name": "after"}}, namespace="default")
                return True

            wait_until(create_after, 30, interval=0.2)
            assert server.store.endpoints[server.store._current] != endpoints[0]
            # the watch cache's store watch moved too: the informer sees the new object
            wait_until(lambda: informer.get("default/after") is not None, 30)
            informer.stop()
            client.close()
