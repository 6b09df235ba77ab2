"""Merging a lab's context into a kubeconfig and removing it, as kind does (tmp files only)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubelab.lab import kubeconfig as kc
from kubelab.lab.errors import KubeconfigError

CLUSTER = {"server": "https://10.250.0.2:6443", "certificate-authority-data": "Q0E="}
USER = {"client-certificate-data": "Q0VSVA==", "client-key-data": "S0VZ"}


def other() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "prod", "cluster": {"server": "https://prod:6443"}}],
        "users": [{"name": "me", "user": {"token": "t"}}],
        "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "me"}}],
        "current-context": "prod",
        "preferences": {"colors": True},
    }


def names(config: dict[str, Any], section: str) -> list[str]:
    return [i["name"] for i in config.get(section) or []]


MERGE = {
    "into nothing": ({}, ["kubelab-lab1"]),
    "beside other entries": (other(), ["prod", "kubelab-lab1"]),
    "replacing a stale entry in place": (
        kc.merge(
            kc.merge(other(), "lab1", {"server": "https://old:6443"}, {}), "lab2", CLUSTER, USER
        ),
        ["prod", "kubelab-lab1", "kubelab-lab2"],
    ),
}


@pytest.mark.parametrize(("base", "clusters"), MERGE.values(), ids=MERGE.keys())
def test_merge(base: dict[str, Any], clusters: list[str]) -> None:
    before = yaml.safe_dump(base)
    merged = kc.merge(base, "lab1", CLUSTER, USER)
    assert yaml.safe_dump(base) == before  # pure: the input is not modified
    assert names(merged, "clusters") == clusters
    assert (
        names(merged, "users")[-len(clusters) :][clusters.index("kubelab-lab1")] == "kubelab-lab1"
    )
    assert merged["current-context"] == "kubelab-lab1"
    ctx = next(c for c in merged["contexts"] if c["name"] == "kubelab-lab1")
    assert ctx["context"] == {"cluster": "kubelab-lab1", "user": "kubelab-lab1"}
    cluster = next(c for c in merged["clusters"] if c["name"] == "kubelab-lab1")
    assert cluster["cluster"] == CLUSTER
    if base.get("preferences"):
        assert merged["preferences"] == base["preferences"]


def test_remove_restores_the_other_entries_and_clears_current_context() -> None:
    merged = kc.merge(other(), "lab1", CLUSTER, USER)
    removed = kc.remove(merged, "lab1")
    assert removed == {**other(), "current-context": ""}


def test_remove_keeps_current_context_that_is_not_the_labs() -> None:
    merged = {**kc.merge(other(), "lab1", CLUSTER, USER), "current-context": "prod"}
    assert kc.remove(merged, "lab1")["current-context"] == "prod"
    assert kc.remove(other(), "lab1") == other()


def test_lab_entry_takes_the_admin_credentials_and_sets_the_server() -> None:
    admin = {
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443", "x": 1}}],
        "users": [{"name": "admin", "user": USER}],
        "contexts": [{"name": "a", "context": {"cluster": "c", "user": "admin"}}],
        "current-context": "a",
    }
    cluster, user = kc.lab_entry(admin, "https://10.250.0.2:6443")
    assert cluster == {"server": "https://10.250.0.2:6443", "x": 1}
    assert user == USER
    with pytest.raises(KubeconfigError, match="no usable cluster"):
        kc.lab_entry({"clusters": []}, "https://x")


BAD_SHAPES = {
    "not a mapping": ("- a\n- b\n", "expected a mapping"),
    "clusters not a list": ("clusters: {a: 1}\n", "clusters must be a list"),
    "not yaml": ("clusters: [\n", "not valid YAML"),
}


@pytest.mark.parametrize(("text", "message"), BAD_SHAPES.values(), ids=BAD_SHAPES.keys())
def test_a_broken_file_is_reported_and_left_alone(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config"
    path.write_text(text)
    with pytest.raises(KubeconfigError, match=message):
        kc.merge_file(path, "lab1", CLUSTER, USER)
    assert path.read_text() == text
    assert not (tmp_path / "config.lock").exists()


def test_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "kube" / "config"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(other()))
    kc.merge_file(path, "lab1", CLUSTER, USER)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert kc.load(path)["current-context"] == "kubelab-lab1"
    assert not (path.parent / "config.lock").exists()  # kubectl would refuse to edit otherwise
    assert kc.remove_file(path, "lab1") is True
    assert kc.load(path) == {**other(), "current-context": ""}
    assert kc.remove_file(path, "lab1") is False
    assert kc.remove_file(tmp_path / "missing", "lab1") is False


def test_default_path_follows_kubeconfig_env(tmp_path: Path) -> None:
    assert kc.default_path({}, tmp_path) == tmp_path / ".kube" / "config"
    env = {"KUBECONFIG": f"{tmp_path}/a:{tmp_path}/b"}
    assert kc.default_path(env, tmp_path) == tmp_path / "a"
