"""Resource requests and limits of pods, as integers in Kubernetes' units (pure).

The one place where a pod's resources are read, for the scheduler (does it fit a node?) and the
kubelet (limits for cgroups, requests for admission and QoS). CPU is counted in millicores,
everything else (memory, ephemeral-storage, pods, extended resources) in whole units, both
rounded up as Kubernetes rounds them (`kubelab.api.quantity`).

A pod's effective request is upstream's `PodRequests` (`k8s.io/component-helpers/resource`):
app containers are summed; init containers run one after another, so each counts alone (plus
the restartable "sidecar" init containers started before it, which keep running), and the pod
needs the larger of the two; `spec.overhead` is added on top. A container that sets a limit
but no request requests its limit (the apiserver defaults it so; objects that reach a caller
undefaulted are counted the same way). With `non_zero=True` a container that requests no CPU or
memory counts as 100m / 200Mi (upstream's `DefaultMilliCPURequest`, `DefaultMemoryRequest`),
which scoring uses so that empty pods still spread.

A bad value raises `ResourceError` naming the field (`spec.containers[0].resources.limits.cpu`),
the value and what is accepted; callers turn it into their own error. No IO, no clock.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

from kubelab.api.quantity import QuantityError, milli_value, value

CPU = "cpu"
MEMORY = "memory"
EPHEMERAL_STORAGE = "ephemeral-storage"
PODS = "pods"

DEFAULT_MILLI_CPU_REQUEST = 100
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024

Resources = dict[str, int]


class ResourceError(ValueError):
    """A resource field that cannot be read: `field` is its path, `value` what was given."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}: invalid value {value!r}: {reason}")


def amount(resource: str, quantity: object, *, field: str = "") -> int:
    """One quantity in its resource's unit: millicores for cpu, whole units otherwise."""
    try:
        if isinstance(quantity, str) or type(quantity) is int:
            # Pods repeat the same few quantities ("100m", "64Mi"): parse each once.
            return _cached_amount(resource == CPU, quantity)
        return _amount(resource == CPU, quantity)
    except QuantityError as exc:
        raise ResourceError(field or resource, quantity, str(exc)) from exc


def _amount(milli: bool, quantity: object) -> int:
    return milli_value(quantity) if milli else value(quantity)  # type: ignore[arg-type]


# Bounded, and pure: a quantity's value never changes. Failures are not cached (they raise).
_cached_amount = functools.lru_cache(maxsize=4096)(_amount)


def parse_list(items: object, *, field: str = "") -> Resources:
    """A ResourceList (`{"cpu": "500m", "memory": "1Gi"}`); `field` is the list's path."""
    if items is None:
        return {}
    if not isinstance(items, Mapping):
        raise ResourceError(field, items, "expected a map of resource name to quantity")
    prefix = f"{field}." if field else ""
    return {str(name): amount(str(name), q, field=f"{prefix}{name}") for name, q in items.items()}


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


def _resources_of(container: Mapping[str, Any], field: str) -> Mapping[str, Any]:
    resources = container.get("resources")
    if resources is None:
        return {}
    if not isinstance(resources, Mapping):
        raise ResourceError(f"{field}.resources", resources, "expected an object")
    return resources


def container_limits(container: Mapping[str, Any], *, field: str = "") -> Resources:
    """`resources.limits` of one container; `field` is the container's path."""
    limits = _resources_of(container, field).get("limits")
    return parse_list(limits, field=f"{field}.resources.limits")


def container_requests(
    container: Mapping[str, Any], *, field: str = "", non_zero: bool = False
) -> Resources:
    """What one container requests: `resources.requests`, a limit standing in for a missing
    request; with `non_zero`, the scoring defaults for missing cpu and memory."""
    resources = _resources_of(container, field)
    requests = parse_list(resources.get("requests"), field=f"{field}.resources.requests")
    limits = resources.get("limits")
    if isinstance(limits, Mapping):  # only the limits that stand in for a missing request
        limits = {name: q for name, q in limits.items() if name not in requests}
    for name, qty in parse_list(limits, field=f"{field}.resources.limits").items():
        requests.setdefault(name, qty)
    if non_zero:
        requests.setdefault(CPU, DEFAULT_MILLI_CPU_REQUEST)
        requests.setdefault(MEMORY, DEFAULT_MEMORY_REQUEST)
    return requests


def _containers(spec: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    items = spec.get(key) or []
    if not isinstance(items, list):
        raise ResourceError(f"spec.{key}", items, "expected a list of containers")
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise ResourceError(f"spec.{key}[{i}]", item, "expected a container object")
    return items


def pod_requests(pod: Mapping[str, Any], *, non_zero: bool = False) -> Resources:
    """The resources a pod needs on a node (see the module docstring for the rule); resources
    that add up to zero are left out."""
    spec = pod.get("spec") or {}
    if not isinstance(spec, Mapping):
        raise ResourceError("spec", spec, "expected an object")
    total: Resources = {}
    for i, container in enumerate(_containers(spec, "containers")):
        add(total, container_requests(container, field=f"spec.containers[{i}]", non_zero=non_zero))
    init_max: Resources = {}
    sidecars: Resources = {}
    for i, container in enumerate(_containers(spec, "initContainers")):
        requests = container_requests(
            container, field=f"spec.initContainers[{i}]", non_zero=non_zero
        )
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
    add(total, parse_list(spec.get("overhead"), field="spec.overhead"))
    return {name: qty for name, qty in total.items() if qty != 0}


def ordered(names: Iterable[str]) -> list[str]:
    """cpu, memory, ephemeral-storage first (upstream's check order), then the rest by name."""
    head = [CPU, MEMORY, EPHEMERAL_STORAGE]
    present = set(names)
    return [n for n in head if n in present] + sorted(present - set(head))
