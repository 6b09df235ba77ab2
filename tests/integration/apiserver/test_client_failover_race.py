"""A watch whose channel another thread's failover closes resumes on the new channel.

Before the fix the stream ended with CANCELLED, which the watch took for "the client was
closed", so an informer silently stopped seeing changes (found by tests/e2e/lab/test_ha.py).
"""

from __future__ import annotations

import secrets
import threading

import pytest

from kubelab.client import CONFIGMAPS, NAMESPACES, Client
from tests.integration.apiserver.conftest import Env
from tests.support import wait_until

pytestmark = pytest.mark.timeout(60)


def test_a_watch_survives_another_threads_failover(env: Env) -> None:
    ns = f"r-{secrets.token_hex(3)}"
    env.client.create(NAMESPACES, {"metadata": {"name": ns}})
    endpoint = env.client.endpoints[0]
    client = Client([endpoint, endpoint], env.client.credentials, timeout=5)
    watch = client.watch(CONFIGMAPS, namespace=ns)
    names: list[str] = []
    ended = threading.Event()

    def run() -> None:
        try:
            for ev in watch:
                names.append(ev.object["metadata"]["name"])
        finally:
            ended.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        env.client.create(CONFIGMAPS, {"metadata": {"name": "before"}}, namespace=ns)
        wait_until(lambda: "before" in names, 10, message="the watch sees 'before'")
        client._failover(0)  # another thread fails over: the stream's channel is closed
        env.client.create(CONFIGMAPS, {"metadata": {"name": "after"}}, namespace=ns)
        wait_until(lambda: "after" in names, 10, message="the watch resumed and sees 'after'")
        assert not ended.is_set()
    finally:
        watch.stop()
        client.close()
        thread.join(5)
