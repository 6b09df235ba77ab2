from __future__ import annotations

from typing import Any

import pytest

from controlplane.scheduler.framework import Code
from controlplane.scheduler.plugins import taint_toleration
from controlplane.scheduler.pod import Taint, Toleration
from tests.unit.scheduler.builders import node, pod, taint, toleration

CP = "node-role.kubernetes.io/control-plane"


@pytest.mark.parametrize(
    ("tol", "tnt", "want"),
    [
        (Toleration("foo", "Equal", "bar", "NoSchedule"), Taint("foo", "bar", "NoSchedule"), True),
        (Toleration("foo", "Equal", "baz", "NoSchedule"), Taint("foo", "bar", "NoSchedule"), False),
        (Toleration("foo", "", "bar", ""), Taint("foo", "bar", "NoExecute"), True),
        (Toleration("foo", "Exists", "", "NoSchedule"), Taint("foo", "any", "NoSchedule"), True),
        (Toleration("foo", "Exists", "", "NoSchedule"), Taint("foo", "", "NoExecute"), False),
        (Toleration("", "Exists", "", ""), Taint("anything", "x", "NoExecute"), True),
        (Toleration("", "Exists", "", "NoSchedule"), Taint("anything", "x", "NoExecute"), False),
        (Toleration("", "Equal", "", ""), Taint("k", "", "NoSchedule"), True),
        (Toleration("other", "Exists", "", ""), Taint("foo", "", "NoSchedule"), False),
        (Toleration("foo", "Lt", "1", ""), Taint("foo", "0", "NoSchedule"), False),
    ],
    ids=[
        "equal key, value and effect",
        "different value",
        "empty operator means Equal, empty effect matches all",
        "Exists ignores the value",
        "effect must match",
        "empty key with Exists tolerates everything",
        "empty key with Exists, but a specific effect",
        "empty key with Equal compares values only, like upstream (validation forbids it)",
        "different key",
        "unknown operator tolerates nothing",
    ],
)
def test_tolerates(tol: Toleration, tnt: Taint, want: bool) -> None:
    assert tol.tolerates(tnt) is want


@pytest.mark.parametrize(
    ("taints", "tolerations", "want"),
    [
        ([], [], True),
        ([taint(CP)], [], False),
        ([taint(CP)], [toleration(CP, "Exists", effect="NoSchedule")], True),
        ([taint("dedicated", "gpu", "NoExecute")], [], False),
        ([taint("dedicated", "gpu", "NoExecute")], [toleration("dedicated", value="gpu")], True),
        ([taint("dedicated", "gpu", "PreferNoSchedule")], [], True),
        ([taint("a"), taint("b")], [toleration("a", "Exists")], False),
        ([taint("a"), taint("b")], [toleration(operator="Exists")], True),
    ],
    ids=[
        "no taints",
        "control-plane NoSchedule taint, no toleration",
        "control-plane taint tolerated",
        "NoExecute taint, no toleration",
        "NoExecute taint tolerated with Equal",
        "PreferNoSchedule never filters",
        "one of two taints untolerated",
        "tolerate everything",
    ],
)
def test_filter(taints: list[Any], tolerations: list[Any], want: bool) -> None:
    p, n = pod(tolerations=tolerations), node(taints=taints)
    assert taint_toleration.fits(p, n) is want
    status = taint_toleration.TaintToleration().filter(p, n)
    assert status.is_success is want
    if not want:
        assert status.code is Code.UNSCHEDULABLE_AND_UNRESOLVABLE
        assert status.reasons == ("node(s) had untolerated taint(s)",)


def test_untolerated_names_the_first_taint() -> None:
    n = node(taints=[taint("a", "1", "PreferNoSchedule"), taint("b", "2")])
    assert taint_toleration.untolerated(pod(), n) == Taint("b", "2", "NoSchedule")


@pytest.mark.parametrize(
    ("tolerations", "want"),
    [
        ([], {"n0": 100, "n1": 50, "n2": 0}),
        ([toleration("a", "Exists", effect="PreferNoSchedule")], {"n0": 100, "n1": 100, "n2": 0}),
        ([toleration("a", "Exists", effect="NoSchedule")], {"n0": 100, "n1": 50, "n2": 0}),
        ([toleration(operator="Exists")], {"n0": 100, "n1": 100, "n2": 100}),
    ],
    ids=[
        "fewer untolerated PreferNoSchedule taints score higher",
        "tolerated PreferNoSchedule taints do not count",
        "a NoSchedule toleration does not count for scoring",
        "tolerating everything",
    ],
)
def test_score_prefer_no_schedule(tolerations: list[Any], want: dict[str, int]) -> None:
    soft = "PreferNoSchedule"
    nodes = [
        node("n0"),
        node("n1", taints=[taint("a", effect=soft)]),
        node("n2", taints=[taint("a", effect=soft), taint("b", effect=soft)]),
    ]
    p = pod(tolerations=tolerations)
    plugin = taint_toleration.TaintToleration()
    scores = {n.name: plugin.score(p, n) for n in nodes}
    plugin.normalize(p, scores)
    assert scores == want
