"""Pod files, volumes, the static pod directory and log tails: pure or tmp-dir only."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from node_agent.kubelet import logs
from node_agent.kubelet.errors import ConfigError
from node_agent.kubelet.launcher import LogWriter
from node_agent.kubelet.static import StaticPodSource
from node_agent.kubelet.volumes import (
    DNSConfig,
    Mount,
    check_not_hidden,
    container_mounts,
    ensure_targets,
    hosts_file,
    materialise,
    refresh,
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


@pytest.mark.parametrize(
    ("mount_path", "hidden"),
    [("/opt", True), ("/opt/lab/", True), ("/", True), ("/opt/lab/bin/python3", True),
     ("/op", False), ("/opt/lab2", False), ("/opt/lab/bin/python3/x", False)],
)  # fmt: skip
def test_a_volume_may_not_hide_what_the_container_runs_from(mount_path: str, hidden: bool) -> None:
    spec = pod(
        {"name": "web", "image": "agnhost", "volumeMounts": [
            {"name": "v", "mountPath": "/data"}, {"name": "v", "mountPath": mount_path}]},
        volumes=[{"name": "v", "emptyDir": {}}],
    )  # fmt: skip
    needed = ["/opt/lab/bin/python3", "/usr/bin/python3.11"]
    if not hidden:
        check_not_hidden(spec.containers[0], needed)
        return
    with pytest.raises(ConfigError) as err:
        check_not_hidden(spec.containers[0], needed)
    assert f'volumeMounts[1].mountPath "{mount_path}" would hide /opt/lab' in str(err.value)
    assert "container web runs from" in str(err.value)


def test_a_refresh_follows_the_configmap_and_keeps_files_when_it_is_gone(tmp_path: Path) -> None:
    cm = {"kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"a": "1", "b": "2"}}
    lookup = Lookup(cm)
    spec = pod(volumes=[{"name": "cfg", "configMap": {"name": "cfg"}}])
    vol = tmp_path / "volumes" / "cfg"
    materialise(tmp_path, spec, lookup)
    inode = (vol / "a").stat().st_ino
    cm["data"] = {"a": "1", "c": "3"}
    assert refresh(tmp_path, spec, lookup) == ["cfg"]
    assert sorted(p.name for p in vol.iterdir()) == ["a", "c"]  # b went with its key
    assert (vol / "c").read_text() == "3"
    assert (vol / "a").stat().st_ino == inode  # unchanged: not rewritten
    cm["data"] = {"a": "one", "c": "3"}
    refresh(tmp_path, spec, lookup)
    assert (vol / "a").read_text() == "one"
    lookup.objs.clear()
    assert refresh(tmp_path, spec, lookup) == []
    assert (vol / "a").read_text() == "one"


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


LOG = (
    b"2026-01-01T10:00:00.000000001Z stdout F one\n"
    b"2026-01-01T10:00:01.500000000Z stderr P tw\n"
    b"2026-01-01T10:00:02.000000000Z stdout F three\n"
    b"2026-01-01T10:00:03.000000000Z stderr F o\n"
    b"2026-01-01T10:00:04.000000000Z stdout P no-newline\n"
    b"2026-01-01T10:00:05.000000000Z stdout F torn"
)


def test_log_rendering_joins_partials_and_filters() -> None:
    assert logs.render(LOG) == b"one\nthree\ntwo\nno-newline"
    assert logs.render(LOG, tail=2) == b"two\nno-newline"
    assert logs.render(LOG, tail=0) == b""
    since = logs.to_epoch("2026-01-01T10:00:02Z")
    assert logs.render(LOG, since=since) == b"three\nno-newline"
    stamped = logs.render(LOG, timestamps=True, tail=1)
    assert stamped == b"2026-01-01T10:00:04.000000000Z no-newline"
    assert logs.render(LOG, limit=5) == b"one\nt"


def test_log_writer_splits_lines_and_marks_partials(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    with path.open("wb") as f:
        w = LogWriter(f.fileno())
        w.feed("stdout", b"hello\nwor")
        w.feed("stdout", b"ld\n")
        w.feed("stderr", b"oops")
    assert logs.render(path.read_bytes()) == b"hello\nworld\noops"
    assert b" stderr P oops\n" in path.read_bytes()


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


def test_log_writer_rotates_past_the_maximum_size(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    try:
        w = LogWriter(fd, str(path), max_size=200)
        for i in range(10):
            w.feed("stdout", f"line {i}\n".encode())
    finally:
        os.close(fd)
    rotated = Path(f"{path}.1")
    assert rotated.exists()
    assert path.stat().st_size <= 200
    everything = logs.render(rotated.read_bytes() + path.read_bytes())
    assert everything.endswith(b"line 9\n")
