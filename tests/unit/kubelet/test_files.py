"""Pod files, volumes, the static pod directory and log tails: pure or tmp-dir only."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from node_agent.kubelet.errors import ConfigError
from node_agent.kubelet.server import tail_lines
from node_agent.kubelet.static import StaticPodSource
from node_agent.kubelet.volumes import (
    DNSConfig,
    Mount,
    container_mounts,
    ensure_targets,
    hosts_file,
    materialise,
    remove_created,
    resolv_conf,
)
from tests.unit.kubelet.factories import pod
from tests.unit.kubelet.test_catalog_env import Lookup


def test_resolv_conf_points_at_cluster_dns_only_when_there_is_one() -> None:
    spec = pod()
    assert resolv_conf(spec, DNSConfig()) == "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n"
    with_dns = resolv_conf(spec, DNSConfig("10.96.0.10"))
    assert "nameserver 10.96.0.10" in with_dns
    assert "search default.svc.cluster.local svc.cluster.local cluster.local" in with_dns


def test_hosts_file_names_the_pod() -> None:
    assert "10.244.1.5\tp\n" in hosts_file(pod(), "10.244.1.5")


def test_volumes_materialise_and_mount_read_only_where_kubernetes_does(tmp_path: Path) -> None:
    cm = {"kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"a.conf": "x=1"}}
    secret = {
        "kind": "Secret",
        "metadata": {"name": "s"},
        "data": {"k": base64.b64encode(b"v").decode()},
    }
    host = tmp_path / "host"
    spec = pod(
        {
            "name": "c",
            "image": "busybox",
            "volumeMounts": [
                {"name": "cfg", "mountPath": "/etc/app"},
                {"name": "sec", "mountPath": "/etc/sec"},
                {"name": "scratch", "mountPath": "/scratch"},
                {"name": "host", "mountPath": "/host", "readOnly": True},
            ],
        },
        volumes=[
            {
                "name": "cfg",
                "configMap": {"name": "cfg", "items": [{"key": "a.conf", "path": "app.conf"}]},
            },
            {"name": "sec", "secret": {"secretName": "s"}},
            {"name": "scratch", "emptyDir": {}},
            {"name": "host", "hostPath": {"path": str(host), "type": "DirectoryOrCreate"}},
        ],
    )
    sources = materialise(tmp_path / "pod", spec, Lookup(cm, secret))
    assert (Path(sources["cfg"]) / "app.conf").read_text() == "x=1"
    assert (Path(sources["sec"]) / "k").read_text() == "v"
    assert host.is_dir()
    mounts = {
        m.target: m for m in container_mounts(tmp_path / "pod", spec.containers[0], spec, sources)
    }
    assert {"/etc/hosts", "/etc/resolv.conf", "/etc/hostname"} <= set(mounts)
    assert mounts["/etc/app"].read_only
    assert mounts["/etc/sec"].read_only
    assert mounts["/host"].read_only
    assert not mounts["/scratch"].read_only


def test_missing_config_map_volume_is_a_config_error(tmp_path: Path) -> None:
    spec = pod(volumes=[{"name": "v", "configMap": {"name": "none"}}])
    with pytest.raises(ConfigError, match='configmap "none" not found'):
        materialise(tmp_path, spec, Lookup())


def test_created_mount_points_are_recorded_and_removed(tmp_path: Path) -> None:
    record = tmp_path / "created"
    target = tmp_path / "a" / "b" / "c"
    ensure_targets([Mount(str(tmp_path), str(target), False)], record)
    assert target.is_dir()
    remove_created(record)
    assert not (tmp_path / "a").exists()


def test_tail_lines() -> None:
    data = b"1\n2\n3\n"
    assert tail_lines(data, 2) == b"2\n3\n"
    assert tail_lines(data, 0) == b""
    assert tail_lines(data, -1) == data


def test_static_source_reads_documents_skips_junk_and_serves_config(tmp_path: Path) -> None:
    (tmp_path / "pods.yaml").write_text(
        "kind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c, image: busybox}]}\n"
        "---\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {k: v}\n"
        "---\nkind: Service\nmetadata: {name: s}\n"
    )
    (tmp_path / "broken.yaml").write_text("kind: Pod\nmetadata: [unclosed\n")
    (tmp_path / "notes.txt").write_text("ignored")
    source = StaticPodSource(tmp_path, "n1", check_period=0)
    pods = source.pods()
    assert [p["metadata"]["name"] for p in pods] == ["a-n1"]
    cfg = source.get("ConfigMap", "default", "cfg")
    assert cfg is not None
    assert cfg["data"] == {"k": "v"}


def test_dns_config_merges_and_policy_none_replaces() -> None:
    cfg = {
        "nameservers": ["1.2.3.4"],
        "searches": ["my.ns"],
        "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}],
    }
    merged = resolv_conf(pod(dnsConfig=cfg), DNSConfig("10.96.0.10"))
    assert merged.splitlines() == [
        "nameserver 10.96.0.10",
        "nameserver 1.2.3.4",
        "search default.svc.cluster.local svc.cluster.local cluster.local my.ns",
        "options ndots:2 edns0",
    ]
    only = resolv_conf(pod(dnsPolicy="None", dnsConfig=cfg), DNSConfig("10.96.0.10"))
    assert only.splitlines() == ["nameserver 1.2.3.4", "search my.ns", "options ndots:2 edns0"]


def test_host_aliases_are_added_to_etc_hosts() -> None:
    spec = pod(hostAliases=[{"ip": "10.1.2.3", "hostnames": ["foo.local", "bar.local"]}])
    assert "10.1.2.3\tfoo.local bar.local\n" in hosts_file(spec, "10.244.1.5")
