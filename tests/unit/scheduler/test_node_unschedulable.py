from __future__ import annotations

from typing import Any

import pytest

from controlplane.scheduler.framework import Code
from controlplane.scheduler.plugins import node_unschedulable
from tests.unit.scheduler.builders import node, pod, toleration


@pytest.mark.parametrize(
    ("cordoned", "tolerations", "want"),
    [
        (False, [], True),
        (True, [], False),
        (
            True,
            [toleration("node.kubernetes.io/unschedulable", "Exists", effect="NoSchedule")],
            True,
        ),
        (True, [toleration(operator="Exists")], True),
        (
            True,
            [toleration("node.kubernetes.io/unschedulable", "Exists", effect="NoExecute")],
            False,
        ),
    ],
    ids=[
        "schedulable node",
        "cordoned node",
        "cordoned node, pod tolerates the unschedulable taint",
        "cordoned node, pod tolerates everything",
        "cordoned node, toleration for another effect",
    ],
)
def test_node_unschedulable(cordoned: bool, tolerations: list[Any], want: bool) -> None:
    p = pod(tolerations=tolerations)
    n = node(unschedulable=cordoned)
    assert node_unschedulable.fits(p, n) is want
    status = node_unschedulable.NodeUnschedulable().filter(p, n)
    assert status.is_success is want
    if not want:
        assert status.code is Code.UNSCHEDULABLE_AND_UNRESOLVABLE
        assert status.reasons == ("node(s) were unschedulable",)
