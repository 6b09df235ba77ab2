"""From a ClusterSpec to a concrete Plan: machines, addresses, names, processes (pure).

The plan is what `kubelab up` carries out and what `status`, `stop`, `start` and `down` read back
from the lab's record. It decides:

- the lab LAN: the host at the LAN's first address, the API VIP at the second when there are
  several control planes (HAProxy on the host, as in kubeadm's HA guide), control planes at
  offset .10, .11, ... and workers at .20, .21, ...; with more than 10 control planes the workers
  start right after the last control plane, and a LAN too small for these offsets is packed
  densely after the host (and VIP);
- one /24 pod subnet per node (control planes are nodes too, tainted like kubeadm's);
- kernel names, netlab's (the lab's netlab prefix is its name): netns `<name>-<machine>`, the
  LAN bridge `<name>-lan`; the kubelet of each machine names its pod namespaces
  `<name>-<machine>-*` and its cgroups `<name>-<machine>`, so one prefix finds everything;
- per machine, the processes and their argv, with upstream flag names (etcd, kube-apiserver,
  kube-scheduler, kubelet) and the fast profile's timings.

It must not touch the system: no clock, no files, no PATH lookups (the tool paths come in).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterator
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from kubelab.lab.spec import NODE_POD_PREFIXLEN, ClusterSpec, Store, check, kernel_prefix

DEFAULT_ROOT = Path("/var/lib/kubelab")
KV_CLIENT_PORT = 2379
KV_PEER_PORT = 2380
API_PORT = 6443
API_GRPC_PORT = 6444
KUBELET_PORT = 10250
CP_OFFSET = 10
WORKER_OFFSET = 20
CONTROL_PLANE_ROLE_LABEL = "node-role.kubernetes.io/control-plane"
CONTROL_PLANE_TAINT = f"{CONTROL_PLANE_ROLE_LABEL}:NoSchedule"
CLUSTER_DOMAIN = "cluster.local"
MACHINE_IFNAME = "eth0"
HOST = "host"


class Role(enum.Enum):
    CONTROL_PLANE = "control-plane"
    WORKER = "worker"


class Restart(enum.Enum):
    """When the supervisor restarts a process that exited (systemd's Restart=)."""

    ALWAYS = "always"
    ON_FAILURE = "on-failure"
    NEVER = "never"


@dataclass(frozen=True)
class ProcessSpec:
    """One supervised process: where it runs (netns name, None = the host) and its argv."""

    machine: str
    name: str
    argv: tuple[str, ...]
    netns: str | None = None
    restart: Restart = Restart.ALWAYS

    @property
    def key(self) -> str:
        return f"{self.machine}/{self.name}"


@dataclass(frozen=True)
class Timing:
    """Timeouts HA experiments shorten; defaults are etcd's and Kubernetes'."""

    heartbeat_interval_ms: int = 100
    election_timeout_ms: int = 1000
    lease_duration_s: int = 15
    renew_deadline_s: int = 10
    retry_period_s: int = 2
    node_status_update_s: int = 10
    node_lease_renew_s: int = 10

    @classmethod
    def for_spec(cls, spec: ClusterSpec) -> Timing:
        if spec.fast:
            return cls(
                heartbeat_interval_ms=50,
                election_timeout_ms=500,
                lease_duration_s=4,
                renew_deadline_s=3,
                retry_period_s=1,
                node_status_update_s=2,
                node_lease_renew_s=2,
            )
        return cls()


@dataclass(frozen=True)
class Tools:
    """Executables the plan's argv start with (resolved by the caller, e.g. sys.executable)."""

    python: str = "python3"
    etcd: str = "etcd"
    haproxy: str = "haproxy"


@dataclass(frozen=True)
class Paths:
    """The lab's directory `/var/lib/kubelab/<name>/` and everything under it."""

    lab: Path

    @property
    def record(self) -> Path:
        return self.lab / "lab.json"

    @property
    def pki(self) -> Path:
        return self.lab / "pki"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.pki / "admin.kubeconfig"

    @property
    def peer_secret(self) -> Path:
        """The kvstore replicas' shared secret (peer traffic off loopback is authenticated)."""
        return self.pki / "kvstore-peer.secret"

    @property
    def haproxy_config(self) -> Path:
        return self.lab / "haproxy.cfg"

    @property
    def supervisor(self) -> Path:
        return self.lab / "supervisor"

    @property
    def logs(self) -> Path:
        return self.lab / "logs"

    def log(self, machine: str, process: str) -> Path:
        return self.logs / machine / f"{process}.log"

    def machine(self, machine: str) -> Path:
        return self.lab / "machines" / machine

    def kubeconfig(self, machine: str) -> Path:
        return self.machine(machine) / "kubeconfig"


@dataclass(frozen=True)
class Machine:
    name: str
    role: Role
    index: int
    netns: str
    ip: IPv4Address
    pod_cidr: IPv4Network
    api_server: str
    api_grpc: str
    labels: tuple[tuple[str, str], ...] = ()
    taints: tuple[str, ...] = ()
    processes: tuple[ProcessSpec, ...] = ()


@dataclass(frozen=True)
class Plan:
    spec: ClusterSpec
    paths: Paths
    prefix: str
    bridge: str
    host_ip: IPv4Address
    vip: IPv4Address | None
    api_endpoint: str
    timing: Timing
    machines: tuple[Machine, ...]
    host_processes: tuple[ProcessSpec, ...] = field(default=())
    removed: tuple[str, ...] = ()

    @property
    def control_planes(self) -> tuple[Machine, ...]:
        return tuple(m for m in self.machines if m.role is Role.CONTROL_PLANE)

    @property
    def workers(self) -> tuple[Machine, ...]:
        return tuple(m for m in self.machines if m.role is Role.WORKER)

    def machine(self, name: str) -> Machine | None:
        return next((m for m in self.machines if m.name == name), None)

    def processes(self) -> Iterator[ProcessSpec]:
        yield from self.host_processes
        for machine in self.machines:
            yield from machine.processes


@dataclass(frozen=True)
class LanAllocation:
    host: IPv4Address
    vip: IPv4Address | None
    control_planes: tuple[IPv4Address, ...]
    workers: tuple[IPv4Address, ...]


def allocate_lan(lan: IPv4Network, control_planes: int, workers: int) -> LanAllocation:
    """Addresses per ARCHITECTURE.md; see the module docstring for collisions and small LANs."""
    base = int(lan.network_address)
    last_usable = lan.num_addresses - 2  # offset of the last host address
    vip_offset = 2 if control_planes > 1 else None
    first_free = 3 if vip_offset else 2
    worker_start = max(WORKER_OFFSET, CP_OFFSET + control_planes)
    if worker_start + workers - 1 <= last_usable and CP_OFFSET + control_planes - 1 <= last_usable:
        cp_start = CP_OFFSET
    else:
        cp_start, worker_start = first_free, first_free + control_planes
    if worker_start + workers - 1 > last_usable:
        raise ValueError(f"{lan} is too small for {control_planes}+{workers} machines")

    def at(offset: int) -> IPv4Address:
        return IPv4Address(base + offset)

    return LanAllocation(
        host=at(1),
        vip=at(vip_offset) if vip_offset else None,
        control_planes=tuple(at(cp_start + i) for i in range(control_planes)),
        workers=tuple(at(worker_start + i) for i in range(workers)),
    )


def node_pod_cidr(pod_cidr: IPv4Network, index: int) -> IPv4Network:
    """The `index`-th /24 of the pod network (index 0 = the first node)."""
    size = 2 ** (32 - NODE_POD_PREFIXLEN)
    return IPv4Network((int(pod_cidr.network_address) + index * size, NODE_POD_PREFIXLEN))


def plan(
    spec: ClusterSpec,
    *,
    root: Path = DEFAULT_ROOT,
    tools: Tools | None = None,
    removed: frozenset[str] = frozenset(),
) -> Plan:
    """The concrete lab for a valid `spec` (raises SpecError otherwise).

    `removed` names workers taken out by `kubelab node remove`: they keep their place (index,
    address, pod subnet are never reused while the lab lives) but are not in the plan.
    """
    check(spec)
    tools = tools or Tools()
    paths = Paths(root / spec.name)
    prefix = kernel_prefix(spec.name)
    timing = Timing.for_spec(spec)
    lan = allocate_lan(spec.lan, spec.control_planes, spec.workers)
    endpoint_ip = lan.vip or lan.control_planes[0]
    api_endpoint = f"https://{endpoint_ip}:{API_PORT}"
    cp_ips = lan.control_planes
    ctx = _Ctx(spec, paths, timing, tools, cp_ips, lan.vip)
    machines: list[Machine] = []
    for i, ip in enumerate(cp_ips, start=1):
        name = f"cp-{i}"
        machine = Machine(
            name=name,
            role=Role.CONTROL_PLANE,
            index=i,
            netns=f"{prefix}{name}",
            ip=ip,
            pod_cidr=node_pod_cidr(spec.pod_cidr, len(machines)),
            # kubeadm: control-plane components talk to their own machine's apiserver.
            api_server=f"https://{ip}:{API_PORT}",
            api_grpc=_grpc_list(ip, cp_ips),
            labels=((CONTROL_PLANE_ROLE_LABEL, ""),),
            taints=(CONTROL_PLANE_TAINT,),
        )
        machines.append(_with_processes(machine, ctx))
    for i, ip in enumerate(lan.workers, start=1):
        name = f"node-{i}"
        machine = Machine(
            name=name,
            role=Role.WORKER,
            index=i,
            netns=f"{prefix}{name}",
            ip=ip,
            pod_cidr=node_pod_cidr(spec.pod_cidr, spec.control_planes + i - 1),
            api_server=api_endpoint,
            api_grpc=_grpc_list(None, cp_ips),
        )
        if name not in removed:
            machines.append(_with_processes(machine, ctx))
    host_processes: tuple[ProcessSpec, ...] = ()
    if lan.vip is not None:
        host_processes = (
            ProcessSpec(
                machine=HOST,
                name="haproxy",
                argv=(tools.haproxy, "-db", "-f", str(paths.haproxy_config)),
            ),
        )
    return Plan(
        spec=spec,
        paths=paths,
        prefix=prefix,
        bridge=f"{prefix}lan",
        host_ip=lan.host,
        vip=lan.vip,
        api_endpoint=api_endpoint,
        timing=timing,
        machines=tuple(machines),
        host_processes=host_processes,
        removed=tuple(sorted(removed)),
    )


def _grpc_list(own: IPv4Address | None, cp_ips: tuple[IPv4Address, ...]) -> str:
    """gRPC addresses of the apiservers, the machine's own first, for client-side failover."""
    first = [own] if own is not None else []
    return ",".join(f"{ip}:{API_GRPC_PORT}" for ip in [*first, *(i for i in cp_ips if i != own)])


@dataclass(frozen=True)
class _Ctx:
    """What every process's argv is built from."""

    spec: ClusterSpec
    paths: Paths
    timing: Timing
    tools: Tools
    cp_ips: tuple[IPv4Address, ...]
    vip: IPv4Address | None


def _with_processes(machine: Machine, ctx: _Ctx) -> Machine:
    procs: list[tuple[str, tuple[str, ...]]] = []
    if machine.role is Role.CONTROL_PLANE:
        procs.append(("kvstore", _store_argv(machine, ctx)))
        procs.append(("apiserver", _apiserver_argv(machine, ctx)))
        procs.append(("scheduler", _scheduler_argv(machine, ctx)))
    procs.append(("kubelet", _kubelet_argv(machine, ctx)))
    specs = tuple(
        ProcessSpec(machine=machine.name, name=name, argv=argv, netns=machine.netns)
        for name, argv in procs
    )
    return dataclasses.replace(machine, processes=specs)


def _store_argv(machine: Machine, ctx: _Ctx) -> tuple[str, ...]:
    spec, tools, timing = ctx.spec, ctx.tools, ctx.timing
    exe: tuple[str, ...] = (
        (tools.etcd,) if spec.store is Store.ETCD else (tools.python, "-m", "controlplane.kvstore")
    )
    peers = ",".join(
        f"cp-{i}=http://{ip}:{KV_PEER_PORT}" for i, ip in enumerate(ctx.cp_ips, start=1)
    )
    ip = machine.ip
    argv = (
        *exe,
        "--name", machine.name,
        "--data-dir", str(ctx.paths.machine(machine.name) / "kvstore"),
        "--listen-client-urls", f"http://{ip}:{KV_CLIENT_PORT},http://127.0.0.1:{KV_CLIENT_PORT}",
        "--advertise-client-urls", f"http://{ip}:{KV_CLIENT_PORT}",
        "--listen-peer-urls", f"http://{ip}:{KV_PEER_PORT}",
        "--initial-advertise-peer-urls", f"http://{ip}:{KV_PEER_PORT}",
        "--initial-cluster", peers,
        "--initial-cluster-state", "new",
        "--initial-cluster-token", f"kubelab-{spec.name}",
        "--heartbeat-interval", str(timing.heartbeat_interval_ms),
        "--election-timeout", str(timing.election_timeout_ms),
    )  # fmt: skip
    if spec.store is Store.KVSTORE and len(ctx.cp_ips) > 1:
        argv = (*argv, "--peer-secret-file", str(ctx.paths.peer_secret))
    return argv


def _apiserver_argv(machine: Machine, ctx: _Ctx) -> tuple[str, ...]:
    # The local store member first, then the others: a client that fails over keeps working
    # while the local replica is down.
    others = [f"http://{ip}:{KV_CLIENT_PORT}" for ip in ctx.cp_ips if ip != machine.ip]
    servers = ",".join([f"http://127.0.0.1:{KV_CLIENT_PORT}", *others])
    sans = [*ctx.cp_ips, *([ctx.vip] if ctx.vip is not None else [])]
    return (
        ctx.tools.python, "-m", "controlplane.apiserver",
        "--advertise-address", str(machine.ip),
        "--bind-address", str(machine.ip),
        "--secure-port", str(API_PORT),
        "--grpc-port", str(API_GRPC_PORT),
        "--etcd-servers", servers,
        "--service-cluster-ip-range", str(ctx.spec.service_cidr),
        # One cert dir for every apiserver of the lab: one cluster CA and one serving
        # certificate, valid for every control plane's address and the VIP.
        "--cert-dir", str(ctx.paths.pki),
        *(arg for ip in sans for arg in ("--tls-san", str(ip))),
        # The identity it presents to kubelets for logs and exec (signed by the cluster CA).
        "--kubelet-client-certificate", str(ctx.paths.pki / "apiserver-kubelet-client.crt"),
        "--kubelet-client-key", str(ctx.paths.pki / "apiserver-kubelet-client.key"),
    )  # fmt: skip


def _scheduler_argv(machine: Machine, ctx: _Ctx) -> tuple[str, ...]:
    timing = ctx.timing
    return (
        ctx.tools.python, "-m", "controlplane.scheduler",
        "--kubeconfig", str(ctx.paths.kubeconfig(machine.name)),
        "--apiserver", machine.api_grpc,
        "--leader-elect=true",
        f"--leader-elect-lease-duration={timing.lease_duration_s}s",
        f"--leader-elect-renew-deadline={timing.renew_deadline_s}s",
        f"--leader-elect-retry-period={timing.retry_period_s}s",
    )  # fmt: skip


def _kubelet_argv(machine: Machine, ctx: _Ctx) -> tuple[str, ...]:
    paths, timing = ctx.paths, ctx.timing
    own = f"{kernel_prefix(ctx.spec.name)}{machine.name}"
    argv = [
        ctx.tools.python, "-m", "node_agent.kubelet",
        "--node-name", machine.name,
        "--node-ip", str(machine.ip),
        "--pod-cidr", str(machine.pod_cidr),
        "--kubeconfig", str(paths.kubeconfig(machine.name)),
        "--apiserver", machine.api_grpc,
        "--root-dir", str(paths.machine(machine.name) / "kubelet"),
        # Clients with a certificate of the cluster CA (the apiservers) may use :10250.
        "--client-ca-file", str(paths.pki / "ca.crt"),
        # The lab's prefix on the pods' namespaces and cgroups: `kubelab down` finds them.
        "--netns-prefix", f"{own}-",
        "--cgroup-parent", own,
        # No `--cluster-dns` while the lab runs no DNS (its address, 10.96.0.10, is kept for
        # one): pods then resolve against 127.0.0.1 in their own namespace, where nothing
        # listens, so a name lookup fails at once instead of waiting out resolver timeouts.
        "--cluster-domain", CLUSTER_DOMAIN,
        "--node-status-update-frequency", str(timing.node_status_update_s),
        "--node-lease-renew-interval", str(timing.node_lease_renew_s),
    ]  # fmt: skip
    if machine.labels:
        argv += ["--node-labels", ",".join(f"{k}={v}" for k, v in machine.labels)]
    if machine.taints:
        argv += ["--register-with-taints", ",".join(machine.taints)]
    return tuple(argv)
