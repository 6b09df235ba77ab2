"""An informer lists, then watches from the list's resourceVersion. The list starts the
resource's watch cache first, so the watch is served by the cache even when the store's
revision moved on in between (it is global: any write moves it), not by a store watch of its
own."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from controlplane.apiserver import watching
from controlplane.apiserver.watchcache import DirectWatch
from kubelab.client import CONFIGMAPS, NAMESPACES, SECRETS
from tests.integration.apiserver.conftest import Env
from tests.support import wait_until

pytestmark = pytest.mark.timeout(60)


def test_watch_from_a_lists_version_is_served_by_the_cache(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    direct: list[tuple[Any, ...]] = []

    def store_watch(*args: Any) -> DirectWatch:
        direct.append(args)
        return DirectWatch(*args)

    monkeypatch.setattr(watching, "DirectWatch", store_watch)
    env.client.create(NAMESPACES, {"metadata": {"name": "wal"}})
    listed = env.client.list(SECRETS, namespace="wal")  # the first use of secrets
    env.client.create(CONFIGMAPS, {"metadata": {"name": "other"}}, namespace="wal")
    watch = env.client.watch(SECRETS, namespace="wal", resource_version=listed.resource_version)
    seen: list[str] = []

    def consume() -> None:
        for event in watch:
            if event.type == "ADDED":
                seen.append(event.object["metadata"]["name"])

    threading.Thread(target=consume, daemon=True).start()
    env.client.create(SECRETS, {"metadata": {"name": "s1"}, "data": {}}, namespace="wal")
    wait_until(lambda: seen == ["s1"], 10, message="the secret's ADDED event")
    watch.stop()
    assert direct == []
