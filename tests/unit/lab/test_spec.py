"""ClusterSpec validation: every bad flag named with its value and what would be accepted."""

from __future__ import annotations

from typing import Any

import pytest

from kubelab.lab.errors import SpecError
from kubelab.lab.spec import (
    NAME_MAX,
    ClusterSpec,
    Store,
    kernel_prefix,
    spec_from_dict,
    spec_from_flags,
    spec_to_dict,
    validate,
)

GOOD: dict[str, dict[str, Any]] = {
    "defaults": {},
    "ha 3+2": {"control_planes": 3, "nodes": 2},
    "etcd fast": {"store": "etcd", "fast": True},
    "longest name": {"name": "a" * NAME_MAX},
    "digits in name": {"name": "lab2"},
    "lan /28 packs 1+10": {"lan": "10.250.0.0/28", "nodes": 10},
    "3+249 fill the /24": {"control_planes": 3, "nodes": 249},
}


@pytest.mark.parametrize("flags", GOOD.values(), ids=GOOD.keys())
def test_valid_flags(flags: dict[str, Any]) -> None:
    spec = spec_from_flags(**flags)
    assert validate(spec) == []
    assert spec_from_dict(spec_to_dict(spec)) == spec


BAD: dict[str, tuple[dict[str, Any], str, str]] = {
    "0 control planes": ({"control_planes": 0}, "--control-planes", "at least 1"),
    "negative workers": ({"nodes": -1}, "--nodes", "0 or more"),
    "empty name": ({"name": ""}, "--name", "must not be empty"),
    "long name": ({"name": "a" * (NAME_MAX + 1)}, "--name", f"2 to {NAME_MAX} characters"),
    "one letter": ({"name": "a"}, "--name", f"2 to {NAME_MAX} characters"),
    "uppercase name": ({"name": "Lab"}, "--name", "lowercase"),
    "hyphen in name": ({"name": "a-b"}, "--name", "lowercase letters and digits"),
    "leading digit": ({"name": "1lab"}, "--name", "starting with a letter"),
    "unknown store": ({"store": "zookeeper"}, "--store", "kvstore, etcd"),
    "lan not a cidr": ({"lan": "10.250.0.1/24"}, "--lan", "not an IPv4 network"),
    "lan garbage": ({"lan": "lan"}, "--lan", "not an IPv4 network"),
    "lan too small": (
        {"lan": "10.250.0.0/29", "control_planes": 3, "nodes": 2},
        "--lan",
        "has 6 usable addresses but 3 control plane(s) + 2 worker(s) + the host "
        "+ the API VIP need 7",
    ),
    "3+250 overflow the /24": ({"control_planes": 3, "nodes": 250}, "--lan", "need 255"),
    "pod cidr overlaps lan": ({"pod_cidr": "10.250.0.0/16"}, "--lan", "overlaps --pod-cidr"),
    "service cidr overlaps pods": ({"service_cidr": "10.244.0.0/16"}, "--pod-cidr", "overlaps"),
    "pod cidr smaller than a /24": ({"pod_cidr": "10.244.0.0/25"}, "--pod-cidr", "/24 or larger"),
    "pod cidr too few /24s": (
        {"pod_cidr": "10.244.0.0/23", "nodes": 2},
        "--pod-cidr",
        "has 2 /24 node subnets for 3 nodes",
    ),
}


@pytest.mark.parametrize(("flags", "flag", "message"), BAD.values(), ids=BAD.keys())
def test_invalid_flags_name_the_flag_value_and_fix(
    flags: dict[str, Any], flag: str, message: str
) -> None:
    with pytest.raises(SpecError) as caught:
        spec_from_flags(**flags)
    matching = [p for p in caught.value.problems if p.flag == flag]
    assert matching, caught.value
    assert any(message in p.message for p in matching), caught.value
    assert "\n" not in str(caught.value)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(SpecError) as caught:
        spec_from_flags(name="Bad-Name", control_planes=0, store="x", lan="nope")
    flags = [p.flag for p in caught.value.problems]
    assert flags == ["--name", "--control-planes", "--store", "--lan"]


def test_defaults_follow_the_architecture() -> None:
    spec = ClusterSpec()
    assert (spec.name, spec.control_planes, spec.workers, spec.store) == (
        "kubelab",
        1,
        0,
        Store.KVSTORE,
    )
    assert (str(spec.lan), str(spec.pod_cidr), str(spec.service_cidr)) == (
        "10.250.0.0/24",
        "10.244.0.0/16",
        "10.96.0.0/12",
    )
    assert kernel_prefix("kubelab") == "kubelab-"
