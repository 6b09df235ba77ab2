"""Resource requests of pods and allocatable of nodes, as integers in Kubernetes' units.

CPU is counted in millicores, everything else (memory, ephemeral-storage, pods, extended
resources) in whole units, both rounded up as Kubernetes rounds them (`kubelab.api.quantity`).

A pod's request follows upstream's `PodRequests`: app containers are summed; init containers run
one after another, so each counts alone (plus the restartable "sidecar" init containers started
before it), and the pod needs the larger of the two; pod overhead is added on top. Scoring uses
"non-zero" requests: a container that requests no CPU or memory counts as 100m / 200Mi, so empty
pods still spread (upstream's `DefaultMilliCPURequest`, `DefaultMemoryRequest`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from controlplane.scheduler.errors import InvalidPodError
from kubelab.api.quantity import QuantityError, milli_value, value

CPU = "cpu"
MEMORY = "memory"
EPHEMERAL_STORAGE = "ephemeral-storage"
PODS = "pods"

DEFAULT_MILLI_CPU_REQUEST = 100
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024

Resources = dict[str, int]


def amount(resource: str, quantity: object, *, where: str = "", owner: str = "") -> int:
    """One quantity in its resource's unit: millicores for cpu, whole units otherwise."""
    try:
        if resource == CPU:
            return milli_value(quantity)  # type: ignore[arg-type]
        return value(quantity)  # type: ignore[arg-type]
    except QuantityError as exc:
        raise InvalidPodError(owner, f"{where}.{resource}", quantity, str(exc)) from exc


def parse_list(items: Mapping[str, Any] | None, *, where: str = "", owner: str = "") -> Resources:
    return {name: amount(name, q, where=where, owner=owner) for name, q in (items or {}).items()}


def add(into: Resources, other: Mapping[str, int]) -> None:
    for name, qty in other.items():
        into[name] = into.get(name, 0) + qty


def subtract(into: Resources, other: Mapping[str, int]) -> None:
    for name, qty in other.items():
        into[name] = into.get(name, 0) - qty


def set_max(into: Resources, other: Mapping[str, int]) -> None:
    for name, qty in other.items():
        if qty > into.get(name, 0):
            into[name] = qty


def _container_requests(
    container: Mapping[str, Any], *, non_zero: bool, where: str, owner: str
) -> Resources:
    resources = container.get("resources") or {}
    # The apiserver defaults a missing request to the limit; do the same for objects that
    # reach us undefaulted so a limit-only container is never counted as free.
    merged = dict(resources.get("limits") or {})
    merged.update(resources.get("requests") or {})
    requests = parse_list(merged, where=f"{where}.resources.requests", owner=owner)
    if non_zero:
        requests.setdefault(CPU, DEFAULT_MILLI_CPU_REQUEST)
        requests.setdefault(MEMORY, DEFAULT_MEMORY_REQUEST)
    return requests


def pod_requests(pod: Mapping[str, Any], *, non_zero: bool = False) -> Resources:
    """The resources a pod needs on a node (see the module docstring for the rule)."""
    meta = pod.get("metadata") or {}
    owner = f"{meta.get('namespace', 'default')}/{meta.get('name', '')}"
    spec = pod.get("spec") or {}
    total: Resources = {}
    for i, container in enumerate(spec.get("containers") or ()):
        add(total, _requests_of(container, non_zero, f"spec.containers[{i}]", owner))
    init_max: Resources = {}
    sidecars: Resources = {}
    for i, container in enumerate(spec.get("initContainers") or ()):
        requests = _requests_of(container, non_zero, f"spec.initContainers[{i}]", owner)
        if container.get("restartPolicy") == "Always":
            # A sidecar keeps running next to the app containers and the later init containers.
            add(total, requests)
            add(sidecars, requests)
            set_max(init_max, sidecars)
        else:
            running = dict(requests)
            add(running, sidecars)
            set_max(init_max, running)
    set_max(total, init_max)
    add(total, parse_list(spec.get("overhead"), where="spec.overhead", owner=owner))
    return {name: qty for name, qty in total.items() if qty != 0}


def _requests_of(container: Mapping[str, Any], non_zero: bool, where: str, owner: str) -> Resources:
    return _container_requests(container, non_zero=non_zero, where=where, owner=owner)


def node_allocatable(node: Mapping[str, Any]) -> Resources:
    """`status.allocatable` (falling back to `status.capacity`) of a node."""
    status = node.get("status") or {}
    items = status.get("allocatable") or status.get("capacity") or {}
    name = (node.get("metadata") or {}).get("name", "")
    return parse_list(items, where="status.allocatable", owner=f"node {name}")


def ordered(names: Iterable[str]) -> list[str]:
    """cpu, memory, ephemeral-storage first (upstream's check order), then the rest by name."""
    head = [CPU, MEMORY, EPHEMERAL_STORAGE]
    present = set(names)
    return [n for n in head if n in present] + sorted(present - set(head))
