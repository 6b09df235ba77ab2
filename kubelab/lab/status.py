"""`kubelab status`: a lab's machines and processes, and what its cluster says.

Processes come from the supervisor when it answers, else from its records, trusting only
identities that still match (kubelab.lab.procs). The cluster (store leader, lease holders,
nodes: kubelab.lab.health) is asked only when the lab is up, over the lab's own LAN.
`render_status` is pure.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kubelab.lab import health, procs
from kubelab.lab.errors import LabError
from kubelab.lab.lifecycle import require_record, supervisor_for
from kubelab.lab.plan import KV_CLIENT_PORT, Plan
from kubelab.lab.records import ProcessRecord, ProcState, read_daemon, read_processes
from kubelab.lab.spec import kernel_prefix


@dataclass(frozen=True)
class ProcessStatus:
    key: str
    state: str
    pid: int | None
    uptime: float | None
    restarts: int
    last_exit: int | None


@dataclass(frozen=True)
class ClusterView:
    """What the cluster itself says: store members, control-plane leases, nodes."""

    store: tuple[health.StoreMember, ...] = ()
    leases: dict[str, str] | None = None
    nodes: tuple[tuple[str, ...], ...] | None = None
    api_error: str | None = None
    # lease name -> the machine whose process holds it (found in the process logs)
    holder_machines: dict[str, str] | None = None


@dataclass(frozen=True)
class LabStatus:
    plan: Plan
    supervisor_pid: int | None
    processes: tuple[ProcessStatus, ...]
    netns_present: frozenset[str]
    cluster: ClusterView | None = None


def _process_status(rec: ProcessRecord | None, key: str, now: float, live: bool) -> ProcessStatus:
    if rec is None:
        return ProcessStatus(key, "not started", None, None, 0, None)
    running = rec.state is ProcState.RUNNING and rec.ident is not None
    if running and not live:
        # The supervisor is gone: trust only what is provably still the recorded process.
        running = rec.ident is not None and procs.is_running(rec.ident)
    state = "running" if running else rec.state.value
    if rec.state is ProcState.RUNNING and not running:
        state = "dead"
    return ProcessStatus(
        key=key,
        state=state,
        pid=rec.ident.pid if running and rec.ident else None,
        uptime=(now - rec.started_at) if running and rec.started_at else None,
        restarts=rec.restarts,
        last_exit=rec.last_exit,
    )


def cluster_view(lab: Plan) -> ClusterView:
    """Ask the lab's stores and apiserver (on the lab LAN); never raises."""
    store = health.store_members([(m.name, f"{m.ip}:{KV_CLIENT_PORT}") for m in lab.control_planes])
    config = lab.paths.lab / "kubeconfig"
    try:
        leases = health.lease_holders(
            health.api_get(config, "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases")
        )
        nodes = tuple(tuple(r) for r in health.node_rows(health.api_get(config, "/api/v1/nodes")))
    except (OSError, ValueError, LabError) as exc:
        return ClusterView(store=tuple(store), api_error=f"{lab.api_endpoint}: {exc}")
    where = {}
    for lease, holder in leases.items():
        taker = LEASE_TAKERS.get(lease)
        if holder and taker:
            logs = {m.name: _read_text(lab.paths.log(m.name, taker)) for m in lab.control_planes}
            machine = holder_machine(holder, logs)
            if machine is not None:
                where[lease] = machine
    return ClusterView(store=tuple(store), leases=leases, nodes=nodes, holder_machines=where)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def holder_machine(holder: str, logs: dict[str, str]) -> str | None:
    """The machine whose component logged `identity=<holder>` when it started.

    Components name themselves hostname_<random>, and the lab's machines share the host's
    hostname (network namespaces only), so the identity alone does not say which machine."""
    needle = f"identity={holder}"
    for machine, text in logs.items():
        for line in text.splitlines():
            words = line.split()
            if "starting" in words and needle in words:
                return machine
    return None


def status(
    root: Path,
    name: str,
    list_netns: Callable[[], list[str]],
    now: float,
    *,
    probe: bool = True,
    has_link: Callable[[str], bool] = lambda name: Path("/sys/class/net", name).exists(),
) -> LabStatus:
    """The lab's machines and processes; with `probe`, also what the cluster says.

    The cluster is only asked when the lab is up: its supervisor answers, its machines exist
    and the host holds the lab's LAN bridge, so every probe stays on the lab's own LAN (the
    lab is sealed; nothing is sent where a route might lead out of the machine)."""
    lab = require_record(root, name).plan
    client = supervisor_for(lab.paths)
    daemon = read_daemon(lab.paths.supervisor)
    live = daemon is not None and procs.is_running(daemon) and client.alive()
    records = {
        r.key: r for r in (client.status() if live else read_processes(lab.paths.supervisor))
    }
    keys = [p.key for p in lab.processes()] + [
        k for k in records if k not in {p.key for p in lab.processes()}
    ]
    present = frozenset(n for n in list_netns() if n.startswith(kernel_prefix(name)))
    lab_is_up = live and all(m.netns in present for m in lab.machines) and has_link(lab.bridge)
    return LabStatus(
        plan=lab,
        supervisor_pid=daemon.pid if live and daemon else None,
        processes=tuple(_process_status(records.get(k), k, now, live) for k in keys),
        netns_present=present,
        cluster=cluster_view(lab) if probe and lab_is_up else None,
    )


def human_duration(seconds: float) -> str:
    """kubectl's AGE style: 45s, 5m3s, 2h10m, 3d4h."""
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60}m"
    return f"{s // 86400}d{s % 86400 // 3600}h"


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def render_status(st: LabStatus) -> str:
    p = st.plan
    spec = p.spec
    lines = [
        f"lab {spec.name}: {spec.control_planes} control plane(s), {spec.workers} worker(s), "
        f"store {spec.store.value}{', fast' if spec.fast else ''}; API {p.api_endpoint}",
        "supervisor: "
        + (f"running (pid {st.supervisor_pid})" if st.supervisor_pid else "not running"),
        "",
    ]
    machines: list[list[str]] = [["MACHINE", "ROLE", "IP", "POD CIDR", "NETNS"]]
    for m in p.machines:
        present = "present" if m.netns in st.netns_present else "missing"
        machines.append(
            [m.name, m.role.value, str(m.ip), str(m.pod_cidr), f"{m.netns} ({present})"]
        )
    lines += _table(machines)
    lines.append("")
    rows: list[list[str]] = [["PROCESS", "STATE", "PID", "UPTIME", "RESTARTS", "LAST EXIT"]]
    for proc in st.processes:
        rows.append(
            [
                proc.key,
                proc.state,
                str(proc.pid) if proc.pid else "-",
                human_duration(proc.uptime) if proc.uptime is not None else "-",
                str(proc.restarts),
                "-" if proc.last_exit is None else str(proc.last_exit),
            ]
        )
    lines += _table(rows)
    lines.append("")
    components = {proc.name for proc in p.processes()}
    lines += _render_cluster(st.cluster, components)
    return "\n".join(lines)


# Which process of the plan takes each control-plane lease.
LEASE_TAKERS = {"kube-scheduler": "scheduler", "kube-controller-manager": "controller-manager"}


def lease_text(lease: str, holder: str, components: set[str], machine: str | None = None) -> str:
    """`kube-scheduler held by cp-2 (host_ab12)`; a lease no process of the lab takes says so."""
    if holder:
        return f"{lease} held by {machine} ({holder})" if machine else f"{lease} held by {holder}"
    taker = LEASE_TAKERS.get(lease)
    if taker is not None and taker not in components:
        return f"{lease} held by none (no {taker} yet)"
    return f"{lease} held by nobody"


def _render_cluster(view: ClusterView | None, components: set[str]) -> list[str]:
    if view is None:
        return ["cluster: not asked (the lab is not up)"]
    lines = [health.render_store(view.store)]
    if view.api_error is not None:
        return [*lines, f"apiserver: not reachable at {view.api_error}"]
    assert view.leases is not None
    assert view.nodes is not None
    where = view.holder_machines or {}
    held = ", ".join(lease_text(k, v, components, where.get(k)) for k, v in view.leases.items())
    lines.append(f"leases: {held}")
    if view.nodes:
        lines += ["", *_table([["NODE", "STATUS", "ROLES", "INTERNAL-IP"], *map(list, view.nodes)])]
    else:
        lines.append("nodes: none registered")
    return lines


def now() -> float:
    return time.time()
