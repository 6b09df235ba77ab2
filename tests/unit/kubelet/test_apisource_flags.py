"""`--node-labels` and `--register-with-taints` parsing (apisource, pure)."""

from __future__ import annotations

import pytest

from node_agent.kubelet.apisource import is_deleting, parse_node_labels, parse_taints
from node_agent.kubelet.errors import ManifestError


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("", ()),
        (
            "node-role.kubernetes.io/control-plane=",
            (("node-role.kubernetes.io/control-plane", ""),),
        ),
        ("zone=a, tier=web", (("zone", "a"), ("tier", "web"))),
    ],
    ids=["empty", "role", "two"],
)
def test_node_labels(text: str, want: tuple[tuple[str, str], ...]) -> None:
    assert parse_node_labels(text) == want


@pytest.mark.parametrize("text", ["zone", "=a", "zone=a b", "Bad_Prefix/x=1"])
def test_bad_node_labels_name_flag_and_item(text: str) -> None:
    with pytest.raises(ManifestError, match="--node-labels"):
        parse_node_labels(text)


def test_taints() -> None:
    assert parse_taints(
        "node-role.kubernetes.io/control-plane:NoSchedule,dedicated=gpu:NoExecute"
    ) == (
        {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
        {"key": "dedicated", "value": "gpu", "effect": "NoExecute"},
    )
    assert parse_taints("") == ()


@pytest.mark.parametrize("text", ["key", "key=v", "key:Sometimes", ":NoSchedule"])
def test_bad_taints_list_the_effects(text: str) -> None:
    with pytest.raises(ManifestError, match="NoSchedule, PreferNoSchedule, NoExecute"):
        parse_taints(text)


def test_is_deleting() -> None:
    assert is_deleting({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}})
    assert not is_deleting({"metadata": {}})
