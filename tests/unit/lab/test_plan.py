"""plan(spec): machines, addresses, pod CIDRs, names, processes and argv."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubelab.lab.plan import (
    CONTROL_PLANE_TAINT,
    Plan,
    Role,
    Tools,
    allocate_lan,
    node_pod_cidr,
    plan,
)
from kubelab.lab.spec import ClusterSpec, Store

ROOT = Path("/tmp/kl")


def ips(addrs: tuple[IPv4Address, ...]) -> list[str]:
    return [str(a) for a in addrs]


LAN = IPv4Network("10.250.0.0/24")


class Alloc(NamedTuple):
    lan: IPv4Network
    control_planes: int
    workers: int
    vip: str | None
    cp_ips: list[str]
    worker_ips: list[str]


def lan_ips(first: int, last: int, net: str = "10.250.0") -> list[str]:
    return [f"{net}.{i}" for i in range(first, last + 1)]


ALLOC = {
    "1 cp, no VIP": Alloc(LAN, 1, 2, None, ["10.250.0.10"], lan_ips(20, 21)),
    "3 cp + VIP": Alloc(LAN, 3, 1, "10.250.0.2", lan_ips(10, 12), ["10.250.0.20"]),
    "10 cp still fit before .20": Alloc(LAN, 10, 1, "10.250.0.2", lan_ips(10, 19), lan_ips(20, 20)),
    "12 cp push workers after them": Alloc(
        LAN, 12, 2, "10.250.0.2", lan_ips(10, 21), lan_ips(22, 23)
    ),
    "small lan packs densely": Alloc(
        IPv4Network("10.9.0.0/28"),
        2,
        3,
        "10.9.0.2",
        lan_ips(3, 4, "10.9.0"),
        lan_ips(5, 7, "10.9.0"),
    ),
    "full /24 packs densely": Alloc(LAN, 3, 249, "10.250.0.2", lan_ips(3, 5), lan_ips(6, 254)),
}


@pytest.mark.parametrize("case", ALLOC.values(), ids=ALLOC.keys())
def test_allocate_lan(case: Alloc) -> None:
    alloc = allocate_lan(case.lan, case.control_planes, case.workers)
    assert str(alloc.host) == str(next(case.lan.hosts()))
    assert (str(alloc.vip) if alloc.vip else None) == case.vip
    assert ips(alloc.control_planes) == case.cp_ips
    assert ips(alloc.workers) == case.worker_ips


@given(n=st.integers(1, 40), m=st.integers(0, 200))
def test_addresses_are_unique_and_inside_the_lan(n: int, m: int) -> None:
    alloc = allocate_lan(LAN, n, m)
    every = [alloc.host, *([alloc.vip] if alloc.vip else []), *alloc.control_planes, *alloc.workers]
    assert len(set(every)) == len(every) == 1 + (n > 1) + n + m
    hosts = set(LAN.hosts())
    assert all(a in hosts for a in every)


def test_pod_cidrs_are_consecutive_slash_24s() -> None:
    net = IPv4Network("10.244.0.0/16")
    assert [str(node_pod_cidr(net, i)) for i in (0, 1, 255)] == [
        "10.244.0.0/24",
        "10.244.1.0/24",
        "10.244.255.0/24",
    ]


def three_plus_two(**kw: object) -> Plan:
    spec = ClusterSpec(control_planes=3, workers=2, **kw)  # type: ignore[arg-type]
    return plan(spec, root=ROOT, tools=Tools(python="/py"))


def test_machines_names_roles_and_kernel_names() -> None:
    p = three_plus_two()
    rows = [f"{m.name} {m.role.value} {m.ip} {m.pod_cidr} {m.netns}" for m in p.machines]
    assert rows == [
        "cp-1 control-plane 10.250.0.10 10.244.0.0/24 kubelab-cp-1",
        "cp-2 control-plane 10.250.0.11 10.244.1.0/24 kubelab-cp-2",
        "cp-3 control-plane 10.250.0.12 10.244.2.0/24 kubelab-cp-3",
        "node-1 worker 10.250.0.20 10.244.3.0/24 kubelab-node-1",
        "node-2 worker 10.250.0.21 10.244.4.0/24 kubelab-node-2",
    ]
    assert [m.role for m in p.control_planes] == [Role.CONTROL_PLANE] * 3
    assert p.bridge == "kubelab-lan"
    assert str(p.host_ip) == "10.250.0.1"
    assert str(p.vip) == "10.250.0.2"
    assert p.api_endpoint == "https://10.250.0.2:6443"
    assert [m.api_grpc for m in p.machines][1:4] == [
        "10.250.0.11:6444,10.250.0.10:6444,10.250.0.12:6444",
        "10.250.0.12:6444,10.250.0.10:6444,10.250.0.11:6444",
        "10.250.0.10:6444,10.250.0.11:6444,10.250.0.12:6444",
    ]
    assert [m.api_server for m in p.machines] == [
        "https://10.250.0.10:6443",
        "https://10.250.0.11:6443",
        "https://10.250.0.12:6443",
        "https://10.250.0.2:6443",
        "https://10.250.0.2:6443",
    ]
    assert [pr.key for pr in p.processes()] == [
        "host/haproxy",
        "cp-1/kvstore",
        "cp-1/apiserver",
        "cp-1/scheduler",
        "cp-1/kubelet",
        "cp-2/kvstore",
        "cp-2/apiserver",
        "cp-2/scheduler",
        "cp-2/kubelet",
        "cp-3/kvstore",
        "cp-3/apiserver",
        "cp-3/scheduler",
        "cp-3/kubelet",
        "node-1/kubelet",
        "node-2/kubelet",
    ]
    assert all(pr.netns == m.netns for m in p.machines for pr in m.processes)
    assert p.host_processes[0].netns is None
    assert p.host_processes[0].argv == ("haproxy", "-db", "-f", "/tmp/kl/kubelab/haproxy.cfg")


def test_longest_names_fit_the_kernel_limit() -> None:
    p = plan(ClusterSpec(name="abcdefgh", control_planes=3, workers=249))
    assert len(p.bridge) <= 15
    assert p.machines[-1].netns == "abcdefgh-node-249"


def test_single_control_plane_has_no_vip_and_no_haproxy() -> None:
    p = plan(ClusterSpec(control_planes=1, workers=1), root=ROOT)
    assert p.vip is None
    assert p.host_processes == ()
    assert p.api_endpoint == "https://10.250.0.10:6443"
    assert p.workers[0].api_server == "https://10.250.0.10:6443"


def argv_of(p: Plan, key: str) -> list[str]:
    return next(list(pr.argv) for pr in p.processes() if pr.key == key)


def flag(argv: list[str], name: str) -> str:
    for i, arg in enumerate(argv):
        if arg == name:
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    raise AssertionError(f"{name} not in {argv}")


def test_kvstore_argv_has_the_initial_cluster_of_every_control_plane() -> None:
    argv = argv_of(three_plus_two(), "cp-2/kvstore")
    assert argv[:3] == ["/py", "-m", "controlplane.kvstore"]
    assert flag(argv, "--name") == "cp-2"
    assert flag(argv, "--data-dir") == "/tmp/kl/kubelab/machines/cp-2/kvstore"
    assert flag(argv, "--initial-cluster") == (
        "cp-1=http://10.250.0.10:2380,cp-2=http://10.250.0.11:2380,cp-3=http://10.250.0.12:2380"
    )
    assert flag(argv, "--listen-peer-urls") == "http://10.250.0.11:2380"
    assert flag(argv, "--listen-client-urls") == "http://10.250.0.11:2379,http://127.0.0.1:2379"
    assert flag(argv, "--advertise-client-urls") == "http://10.250.0.11:2379"
    assert flag(argv, "--initial-cluster-state") == "new"
    assert (flag(argv, "--heartbeat-interval"), flag(argv, "--election-timeout")) == ("100", "1000")


def test_store_etcd_runs_debians_etcd_with_the_same_flags() -> None:
    kv = argv_of(three_plus_two(), "cp-1/kvstore")
    etcd = argv_of(three_plus_two(store=Store.ETCD), "cp-1/kvstore")
    assert etcd[0] == "etcd"
    # etcd has no --peer-secret-file: kubelab's kvstore authenticates peers off loopback.
    assert kv[-2:] == ["--peer-secret-file", "/tmp/kl/kubelab/pki/kvstore-peer.secret"]
    assert etcd[1:] == kv[3:-2]


def test_a_single_kvstore_needs_no_peer_secret() -> None:
    p = plan(ClusterSpec(control_planes=1), root=ROOT)
    assert "--peer-secret-file" not in argv_of(p, "cp-1/kvstore")


def test_apiserver_argv_lists_the_local_store_first() -> None:
    argv = argv_of(three_plus_two(), "cp-3/apiserver")
    assert argv[:3] == ["/py", "-m", "controlplane.apiserver"]
    assert flag(argv, "--etcd-servers") == (
        "http://127.0.0.1:2379,http://10.250.0.10:2379,http://10.250.0.11:2379"
    )
    assert flag(argv, "--advertise-address") == "10.250.0.12"
    assert flag(argv, "--secure-port") == "6443"
    assert flag(argv, "--service-cluster-ip-range") == "10.96.0.0/12"
    assert flag(argv, "--cert-dir") == "/tmp/kl/kubelab/pki"
    assert flag(argv, "--grpc-port") == "6444"
    sans = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--tls-san"]
    assert sans == ["10.250.0.10", "10.250.0.11", "10.250.0.12", "10.250.0.2"]


KUBELET = {
    "control plane": ("cp-1", "10.250.0.10", "10.244.0.0/24", True),
    "worker": ("node-2", "10.250.0.21", "10.244.4.0/24", False),
}


@pytest.mark.parametrize(("machine", "ip", "cidr", "tainted"), KUBELET.values(), ids=KUBELET.keys())
def test_kubelet_argv(machine: str, ip: str, cidr: str, tainted: bool) -> None:
    argv = argv_of(three_plus_two(), f"{machine}/kubelet")
    assert argv[:3] == ["/py", "-m", "node_agent.kubelet"]
    assert flag(argv, "--node-name") == machine
    assert flag(argv, "--netns-prefix") == f"kubelab-{machine}-"
    assert flag(argv, "--cgroup-parent") == f"kubelab-{machine}"
    assert flag(argv, "--node-ip") == ip
    assert flag(argv, "--pod-cidr") == cidr
    assert flag(argv, "--kubeconfig") == f"/tmp/kl/kubelab/machines/{machine}/kubeconfig"
    if tainted:
        assert flag(argv, "--node-labels") == "node-role.kubernetes.io/control-plane="
        assert flag(argv, "--register-with-taints") == CONTROL_PLANE_TAINT
    else:
        assert "--node-labels" not in argv
        assert "--register-with-taints" not in argv


class Times(NamedTuple):
    fast: bool
    lease: str
    renew: str
    retry: str
    heartbeat: str
    election: str
    status: str


TIMING = {
    "default": Times(False, "15s", "10s", "2s", "100", "1000", "10"),
    "fast": Times(True, "4s", "3s", "1s", "50", "500", "2"),
}


@pytest.mark.parametrize("t", TIMING.values(), ids=TIMING.keys())
def test_fast_profile_shortens_every_timeout(t: Times) -> None:
    p = three_plus_two(fast=t.fast)
    sched = argv_of(p, "cp-1/scheduler")
    assert flag(sched, "--leader-elect") == "true"
    assert flag(sched, "--apiserver").startswith("10.250.0.10:6444,")
    assert flag(sched, "--leader-elect-lease-duration") == t.lease
    assert flag(sched, "--leader-elect-renew-deadline") == t.renew
    assert flag(sched, "--leader-elect-retry-period") == t.retry
    kv = argv_of(p, "cp-1/kvstore")
    assert (flag(kv, "--heartbeat-interval"), flag(kv, "--election-timeout")) == (
        t.heartbeat,
        t.election,
    )
    kubelet = argv_of(p, "node-1/kubelet")
    assert flag(kubelet, "--node-status-update-frequency") == t.status
    assert flag(kubelet, "--node-lease-renew-interval") == t.status


def test_paths_live_under_the_lab_dir() -> None:
    p = three_plus_two()
    assert p.paths.lab == Path("/tmp/kl/kubelab")
    assert p.paths.log("cp-1", "kvstore") == Path("/tmp/kl/kubelab/logs/cp-1/kvstore.log")
    assert p.paths.admin_kubeconfig == Path("/tmp/kl/kubelab/pki/admin.kubeconfig")
