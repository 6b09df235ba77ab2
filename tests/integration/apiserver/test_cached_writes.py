"""Patch and bind start from the watch cache's copy of an object (no store read), as
Kubernetes' GuaranteedUpdate does. A cache that lags behind the store must never change
an outcome: these tests hand the handlers a stale copy on purpose."""

from __future__ import annotations

import copy
import secrets
from typing import Any

import pytest

from kubelab.client import NAMESPACES, PODS
from kubelab.client.errors import Conflict
from tests.integration.apiserver.conftest import Env
from tests.support import wait_until

pytestmark = pytest.mark.timeout(60)


def new_ns(env: Env) -> str:
    name = f"c-{secrets.token_hex(3)}"
    env.client.create(NAMESPACES, {"metadata": {"name": name}})
    return name


def pod(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def make_cache_stale(env: Env, ns: str, name: str, stale: dict[str, Any], latest_rv: str) -> None:
    """Once the cache holds the latest copy, put the stale one back in its place (as a cache
    that has not seen the last write yet would hold it)."""
    cache = env.server.handlers.caches.get("/registry/pods/")
    key = f"/registry/pods/{ns}/{name}"

    def latest() -> bool:
        return bool(
            cache.state.get(key, {}).get("metadata", {}).get("resourceVersion") == latest_rv
        )

    wait_until(latest, 10, message="the watch cache catches up")
    cache.state[key] = copy.deepcopy(stale)


def test_patch_on_a_stale_cache_applies_to_the_stored_object(env: Env) -> None:
    ns = new_ns(env)
    first = env.client.create(PODS, pod("p"), namespace=ns)
    second = env.client.patch(PODS, "p", {"metadata": {"labels": {"a": "1"}}}, namespace=ns)
    make_cache_stale(env, ns, "p", first, second["metadata"]["resourceVersion"])

    third = env.client.patch(PODS, "p", {"metadata": {"labels": {"b": "2"}}}, namespace=ns)
    assert third["metadata"]["labels"] == {"a": "1", "b": "2"}  # not a=1 lost

    # A precondition on the latest version holds even though the cache is behind it.
    make_cache_stale(env, ns, "p", second, third["metadata"]["resourceVersion"])
    status = {
        "metadata": {"resourceVersion": third["metadata"]["resourceVersion"]},
        "status": {"phase": "Running"},
    }
    fourth = env.client.patch(PODS, "p", status, namespace=ns, subresource="status")
    assert fourth["status"]["phase"] == "Running"
    assert fourth["metadata"]["labels"] == {"a": "1", "b": "2"}

    # A precondition on an older version is still a conflict.
    old = {"metadata": {"resourceVersion": second["metadata"]["resourceVersion"]}}
    with pytest.raises(Conflict):
        env.client.patch(PODS, "p", {**old, "status": {"phase": "Failed"}}, namespace=ns,
                         subresource="status")  # fmt: skip
    assert env.client.get(PODS, "p", namespace=ns)["status"]["phase"] == "Running"


def test_bind_refuses_by_the_store_not_by_a_stale_cache(env: Env) -> None:
    ns = new_ns(env)
    unbound = env.client.create(PODS, pod("b"), namespace=ns)
    bound = env.client.bind(ns, "b", "node-1")
    make_cache_stale(env, ns, "b", unbound, bound["metadata"]["resourceVersion"])
    with pytest.raises(Conflict, match="already assigned"):
        env.client.bind(ns, "b", "node-2")
    assert env.client.get(PODS, "b", namespace=ns)["spec"]["nodeName"] == "node-1"

    # The other way round: the cache still holds a bound pod that was deleted and created
    # again under the same name; the new one can be bound.
    env.client.delete(PODS, "b", namespace=ns, grace_period_seconds=0)
    fresh = env.client.create(PODS, pod("b"), namespace=ns)
    make_cache_stale(env, ns, "b", bound, fresh["metadata"]["resourceVersion"])
    assert env.client.bind(ns, "b", "node-3")["spec"]["nodeName"] == "node-3"


def test_a_dry_run_patch_answers_from_the_store(env: Env) -> None:
    ns = new_ns(env)
    first = env.client.create(PODS, pod("d"), namespace=ns)
    second = env.client.patch(PODS, "d", {"metadata": {"labels": {"a": "1"}}}, namespace=ns)
    make_cache_stale(env, ns, "d", first, second["metadata"]["resourceVersion"])
    dry = env.client.patch(
        PODS, "d", {"metadata": {"labels": {"b": "2"}}}, namespace=ns, dry_run=True
    )
    assert dry["metadata"]["labels"] == {"a": "1", "b": "2"}  # the stored labels, not the cache's
    assert env.client.get(PODS, "d", namespace=ns)["metadata"]["labels"] == {"a": "1"}
