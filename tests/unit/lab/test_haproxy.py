"""Golden files for the rendered HAProxy config. KUBELAB_REWRITE_GOLDEN=1 rewrites them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kubelab.lab.haproxy import Backend, HealthCheck, LoadBalancer, for_plan, render
from kubelab.lab.plan import plan
from kubelab.lab.spec import ClusterSpec

GOLDEN = Path(__file__).parent / "golden"

CASES = {
    "haproxy-3cp.cfg": render(for_plan(plan(ClusterSpec(control_planes=3, workers=2)))),
    "haproxy-5cp-fast.cfg": render(
        for_plan(plan(ClusterSpec(name="ha", control_planes=5, fast=True)))
    ),
    "haproxy-tcp.cfg": render(
        LoadBalancer(
            name="t",
            bind_address="127.0.0.1",
            bind_port=16443,
            backends=(Backend("a", "127.0.0.2", 6443), Backend("b", "127.0.0.3", 6443)),
            check=HealthCheck.TCP,
            inter_ms=100,
            fall=1,
            rise=1,
        )
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name: str) -> None:
    path = GOLDEN / name
    if os.environ.get("KUBELAB_REWRITE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(CASES[name])
    assert CASES[name] == path.read_text()


def test_one_control_plane_has_no_load_balancer() -> None:
    with pytest.raises(ValueError, match="no VIP"):
        for_plan(plan(ClusterSpec(control_planes=1)))
