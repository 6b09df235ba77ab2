"""Small pod-shaped dicts for tests of resource rules."""

from __future__ import annotations

from typing import Any


def container(
    name: str, cpu: str | None = None, memory: str | None = None, **extra: Any
) -> dict[str, Any]:
    """A container with the given requests (only those given)."""
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    return {"name": name, "resources": {"requests": requests}, **extra}


def pod_with(containers: list[Any], init: list[Any] | None = None, **spec: Any) -> dict[str, Any]:
    """A pod named `p` with these app and init containers and any other spec fields."""
    return {
        "metadata": {"name": "p"},
        "spec": {"containers": containers, "initContainers": init or [], **spec},
    }
