from __future__ import annotations

import pytest

from controlplane.scheduler.framework import Code
from controlplane.scheduler.plugins import node_name
from tests.unit.scheduler.builders import node, pod


@pytest.mark.parametrize(
    ("pod_node", "node_name_", "want"),
    [
        ("", "foo", True),
        ("foo", "foo", True),
        ("bar", "foo", False),
    ],
    ids=["no host specified", "host matches", "host doesn't match"],
)
def test_node_name(pod_node: str, node_name_: str, want: bool) -> None:
    p, n = pod(node_name=pod_node), node(node_name_)
    assert node_name.fits(p, n) is want
    status = node_name.NodeName().filter(p, n)
    if want:
        assert status.is_success
    else:
        assert status.code is Code.UNSCHEDULABLE_AND_UNRESOLVABLE
        assert status.reasons == ("node(s) didn't match the requested node name",)
