"""The official Python `kubernetes` client against the apiserver: Pods and ConfigMaps."""

from __future__ import annotations

import secrets
import threading
from typing import Any

import pytest

from controlplane.apiserver.server import Apiserver

kubernetes = pytest.importorskip("kubernetes")
from kubernetes import client as k8s  # noqa: E402
from kubernetes import config as k8s_config  # noqa: E402
from kubernetes import watch as k8s_watch  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]


@pytest.fixture(scope="module")
def core(apiserver: Apiserver) -> Any:
    assert apiserver.pki is not None
    api_client = k8s_config.new_client_from_config(str(apiserver.pki.admin_kubeconfig))
    yield k8s.CoreV1Api(api_client)
    api_client.close()


def test_pod_and_configmap_create_list_watch_delete(core: Any) -> None:
    ns = f"py-{secrets.token_hex(3)}"
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=ns)))
    start_rv = core.list_namespaced_pod(ns).metadata.resource_version
    seen: list[tuple[str, str]] = []
    done = threading.Event()

    def watch_pods() -> None:
        w = k8s_watch.Watch()
        for ev in w.stream(
            core.list_namespaced_pod, ns, resource_version=start_rv, timeout_seconds=20
        ):
            seen.append((ev["type"], ev["object"].metadata.name))
            if ev["type"] == "DELETED":
                w.stop()
        done.set()

    watcher = threading.Thread(target=watch_pods, daemon=True)
    watcher.start()

    pod = k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name="py-pod", labels={"app": "py"}),
        spec=k8s.V1PodSpec(containers=[k8s.V1Container(name="c", image="busybox")]),
    )
    created = core.create_namespaced_pod(ns, pod)
    assert created.spec.restart_policy == "Always"
    pods = core.list_namespaced_pod(ns, label_selector="app=py")
    assert [p.metadata.name for p in pods.items] == ["py-pod"]

    cm = k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="py-cm"), data={"k": "v"})
    core.create_namespaced_config_map(ns, cm)
    assert core.read_namespaced_config_map("py-cm", ns).data == {"k": "v"}
    assert [c.metadata.name for c in core.list_namespaced_config_map(ns).items] == ["py-cm"]

    core.delete_namespaced_pod("py-pod", ns)
    core.delete_namespaced_config_map("py-cm", ns)
    assert done.wait(20)
    assert seen == [("ADDED", "py-pod"), ("DELETED", "py-pod")]
    assert core.list_namespaced_config_map(ns).items == []
    with pytest.raises(k8s.ApiException) as info:
        core.read_namespaced_pod("py-pod", ns)
    assert info.value.status == 404
