from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from controlplane.apiserver.server import Apiserver
from kubelab.client import Client
from tests.integration.apiserver.cluster import (
    STORE_BACKENDS,
    StoreProcess,
    grpc_client,
    run_apiserver,
    run_store,
)


@dataclass
class Env:
    store: StoreProcess
    server: Apiserver
    client: Client
    cert_dir: Path


@pytest.fixture(scope="module", params=STORE_BACKENDS)
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    base = tmp_path_factory.mktemp("apiserver")
    with (
        run_store(request.param, base / "store") as store,
        run_apiserver(store.endpoints, base / "pki", bookmark_interval=0.5) as server,
    ):
        client = grpc_client(server, base / "pki")
        yield Env(store, server, client, base / "pki")
        client.close()
