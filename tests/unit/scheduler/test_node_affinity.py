from __future__ import annotations

from typing import Any

import pytest

from controlplane.scheduler.errors import InvalidPodError
from controlplane.scheduler.framework import Code
from controlplane.scheduler.inmemory import make_pod
from controlplane.scheduler.plugins import node_affinity, node_selector
from controlplane.scheduler.pod import PodInfo
from tests.unit.scheduler.builders import affinity, expr, node, pod

REASON = "node(s) didn't match Pod's node affinity/selector"


@pytest.mark.parametrize(
    ("selector", "labels", "want"),
    [
        ({}, {}, True),
        ({"disk": "ssd"}, {"disk": "ssd", "zone": "a"}, True),
        ({"disk": "ssd"}, {"disk": "hdd"}, False),
        ({"disk": "ssd", "zone": "a"}, {"disk": "ssd"}, False),
        ({"kubernetes.io/hostname": "node-1"}, {}, True),
    ],
    ids=[
        "no selector",
        "label matches",
        "value differs",
        "all labels must match",
        "hostname label",
    ],
)
def test_node_selector(selector: dict[str, str], labels: dict[str, str], want: bool) -> None:
    p, n = pod(nodeSelector=selector), node(labels=labels)
    assert node_selector.fits(p, n) is want
    status = node_selector.NodeSelector().filter(p, n)
    assert status.is_success is want
    if not want:
        assert status.code is Code.UNSCHEDULABLE_AND_UNRESOLVABLE
        assert status.reasons == (REASON,)


LABELS = {"zone": "a", "disk": "ssd", "cores": "8", "gen": "x1"}


@pytest.mark.parametrize(
    ("terms", "want"),
    [
        ([{"matchExpressions": [expr("zone", "In", "a", "b")]}], True),
        ([{"matchExpressions": [expr("zone", "In", "b", "c")]}], False),
        ([{"matchExpressions": [expr("zone", "NotIn", "b")]}], True),
        ([{"matchExpressions": [expr("zone", "NotIn", "a")]}], False),
        ([{"matchExpressions": [expr("absent", "NotIn", "a")]}], True),
        ([{"matchExpressions": [expr("disk", "Exists")]}], True),
        ([{"matchExpressions": [expr("gpu", "Exists")]}], False),
        ([{"matchExpressions": [expr("gpu", "DoesNotExist")]}], True),
        ([{"matchExpressions": [expr("disk", "DoesNotExist")]}], False),
        ([{"matchExpressions": [expr("cores", "Gt", "4")]}], True),
        ([{"matchExpressions": [expr("cores", "Gt", "8")]}], False),
        ([{"matchExpressions": [expr("cores", "Lt", "16")]}], True),
        ([{"matchExpressions": [expr("cores", "Lt", "8")]}], False),
        ([{"matchExpressions": [expr("gen", "Gt", "1")]}], False),
        ([{"matchExpressions": [expr("absent", "Lt", "1")]}], False),
        ([{"matchExpressions": [expr("zone", "In", "a"), expr("disk", "In", "hdd")]}], False),
        (
            [
                {"matchExpressions": [expr("zone", "In", "b")]},
                {"matchExpressions": [expr("disk", "In", "ssd")]},
            ],
            True,
        ),
        ([{}], False),
        ([], False),
        ([{"matchFields": [expr("metadata.name", "In", "node-1")]}], True),
        ([{"matchFields": [expr("metadata.name", "In", "node-2")]}], False),
        ([{"matchFields": [expr("metadata.name", "NotIn", "node-2")]}], True),
        (
            [
                {
                    "matchExpressions": [expr("zone", "In", "a")],
                    "matchFields": [expr("metadata.name", "In", "node-2")],
                }
            ],
            False,
        ),
        ([{"matchFields": [expr("metadata.uid", "In", "node-1")]}], False),
    ],
    ids=[
        "In matches",
        "In does not match",
        "NotIn matches",
        "NotIn does not match",
        "NotIn on a missing label matches",
        "Exists",
        "Exists on a missing label",
        "DoesNotExist",
        "DoesNotExist on a present label",
        "Gt",
        "Gt is strict",
        "Lt",
        "Lt is strict",
        "Gt on a non-integer label never matches",
        "Lt on a missing label",
        "expressions of a term are ANDed",
        "terms are ORed",
        "an empty term matches nothing",
        "no terms match nothing",
        "matchFields metadata.name In",
        "matchFields metadata.name In, other node",
        "matchFields metadata.name NotIn",
        "matchExpressions and matchFields are ANDed",
        "matchFields knows only metadata.name",
    ],
)
def test_required_affinity(terms: list[Any], want: bool) -> None:
    p, n = pod(affinity=affinity(required=terms)), node("node-1", labels=LABELS)
    assert node_affinity.fits(p, n) is want
    status = node_affinity.NodeAffinity().filter(p, n)
    assert status.is_success is want
    if not want:
        assert status.reasons == (REASON,)


def test_no_required_affinity_fits_everywhere() -> None:
    assert node_affinity.fits(pod(affinity=affinity(preferred=[])), node())


def test_bad_operator_names_the_field() -> None:
    bad = make_pod("web", affinity=affinity(required=[{"matchExpressions": [expr("a", "Near")]}]))
    with pytest.raises(InvalidPodError, match=r"operator.*'Near'.*In, NotIn"):
        PodInfo.from_object(bad)


@pytest.mark.parametrize(
    ("preferred", "want"),
    [
        ([], {"n-a": 0, "n-b": 0, "n-c": 0}),
        (
            [{"weight": 2, "preference": {"matchExpressions": [expr("zone", "In", "a")]}}],
            {"n-a": 100, "n-b": 0, "n-c": 100},
        ),
        (
            [
                {"weight": 1, "preference": {"matchExpressions": [expr("zone", "In", "a")]}},
                {"weight": 3, "preference": {"matchExpressions": [expr("disk", "Exists")]}},
            ],
            {"n-a": 25, "n-b": 75, "n-c": 100},
        ),
        ([{"weight": 5, "preference": {}}], {"n-a": 0, "n-b": 0, "n-c": 0}),
    ],
    ids=[
        "no preferences",
        "one preference",
        "weights add up and scale to 100",
        "an empty preference matches nothing",
    ],
)
def test_preferred_affinity_score(preferred: list[Any], want: dict[str, int]) -> None:
    nodes = [
        node("n-a", labels={"zone": "a"}),
        node("n-b", labels={"zone": "b", "disk": "ssd"}),
        node("n-c", labels={"zone": "a", "disk": "ssd"}),
    ]
    p = pod(affinity=affinity(preferred=preferred))
    plugin = node_affinity.NodeAffinity()
    scores = {n.name: plugin.score(p, n) for n in nodes}
    plugin.normalize(p, scores)
    assert scores == want
