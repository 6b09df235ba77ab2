from __future__ import annotations

from typing import Any

import pytest

from kubelab.api.patch import (
    PatchError,
    apply_patch,
    json_merge_patch,
    json_patch,
    strategic_merge_patch,
)

POD: dict[str, Any] = {
    "metadata": {"name": "p", "labels": {"a": "1", "b": "2"}, "finalizers": ["x"]},
    "spec": {
        "containers": [
            {"name": "app", "image": "app:1", "env": [{"name": "A", "value": "1"}]},
            {"name": "side", "image": "side:1"},
        ],
        "tolerations": [{"key": "t1"}],
    },
}


def test_json_merge_patch_rfc7386() -> None:
    out = json_merge_patch(
        POD,
        {"metadata": {"labels": {"a": None, "c": "3"}}, "spec": {"containers": [{"name": "only"}]}},
    )
    assert out["metadata"]["labels"] == {"b": "2", "c": "3"}
    assert out["spec"]["containers"] == [{"name": "only"}]  # lists are replaced
    assert POD["metadata"]["labels"] == {"a": "1", "b": "2"}  # input untouched


def test_json_merge_patch_result_shares_nothing_with_its_inputs() -> None:
    patch: dict[str, Any] = {
        "metadata": {"labels": {"c": "3"}},
        "spec": {"tolerations": [{"key": "t2"}]},
    }
    out = json_merge_patch(POD, patch)
    out["metadata"]["labels"]["a"] = "changed"
    out["spec"]["containers"][0]["env"].append({"name": "B"})
    out["spec"]["tolerations"][0]["key"] = "changed"
    assert POD["metadata"]["labels"] == {"a": "1", "b": "2"}
    assert POD["spec"]["containers"][0]["env"] == [{"name": "A", "value": "1"}]
    assert patch["spec"]["tolerations"] == [{"key": "t2"}]


def test_strategic_merge_merges_containers_by_name() -> None:
    out = strategic_merge_patch(
        POD,
        {
            "spec": {
                "containers": [{"name": "side", "image": "side:2"}, {"name": "new", "image": "n"}]
            }
        },
    )
    names = [(c["name"], c["image"]) for c in out["spec"]["containers"]]
    assert names == [("app", "app:1"), ("side", "side:2"), ("new", "n")]
    assert out["spec"]["containers"][0]["env"] == [{"name": "A", "value": "1"}]


def test_strategic_merge_directives() -> None:
    out = strategic_merge_patch(
        POD,
        {
            "metadata": {"finalizers": ["y"], "$deleteFromPrimitiveList/finalizers": ["x"]},
            "spec": {
                "containers": [{"name": "side", "$patch": "delete"}],
                "$setElementOrder/containers": [{"name": "app"}],
                "tolerations": [{"key": "t2"}],
            },
        },
    )
    assert [c["name"] for c in out["spec"]["containers"]] == ["app"]
    assert out["metadata"]["finalizers"] == ["y"]
    assert out["spec"]["tolerations"] == [{"key": "t2"}]  # no merge key: replaced
    replaced = strategic_merge_patch(POD, {"metadata": {"labels": {"$patch": "replace", "z": "9"}}})
    assert replaced["metadata"]["labels"] == {"z": "9"}


def test_json_patch_operations() -> None:
    out = json_patch(
        POD,
        [
            {"op": "add", "path": "/metadata/labels/c", "value": "3"},
            {"op": "replace", "path": "/spec/containers/0/image", "value": "app:2"},
            {"op": "remove", "path": "/metadata/labels/a"},
            {"op": "copy", "from": "/metadata/labels/b", "path": "/metadata/labels/d"},
            {"op": "move", "from": "/metadata/labels/d", "path": "/metadata/labels/e"},
            {"op": "add", "path": "/spec/tolerations/-", "value": {"key": "t9"}},
            {"op": "test", "path": "/metadata/labels/e", "value": "2"},
            {"op": "add", "path": "/metadata/annotations", "value": {"x~/y": "1"}},
            {"op": "test", "path": "/metadata/annotations/x~0~1y", "value": "1"},
        ],
    )
    assert out["metadata"]["labels"] == {"b": "2", "c": "3", "e": "2"}
    assert out["spec"]["containers"][0]["image"] == "app:2"
    assert out["spec"]["tolerations"][-1] == {"key": "t9"}


@pytest.mark.parametrize(
    "ops",
    [
        [{"op": "remove", "path": "/metadata/nope"}],
        [{"op": "test", "path": "/metadata/name", "value": "q"}],
        [{"op": "frobnicate", "path": "/a"}],
        [{"op": "add", "path": "/spec/containers/9", "value": {}}],
        {"op": "add"},
    ],
    ids=["remove-missing", "test-fails", "unknown-op", "index-range", "not-a-list"],
)
def test_bad_json_patches(ops: Any) -> None:
    with pytest.raises(PatchError):
        json_patch(POD, ops)


def test_apply_patch_dispatches_on_content_type() -> None:
    out = apply_patch(
        "application/merge-patch+json; charset=utf-8", POD, {"metadata": {"name": "q"}}
    )
    assert out["metadata"]["name"] == "q"
    with pytest.raises(PatchError, match="unsupported patch type"):
        apply_patch("text/plain", POD, {})
