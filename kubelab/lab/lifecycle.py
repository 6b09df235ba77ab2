"""Lab lifecycle operations behind the CLI: up, down, stop, start, status.

Each operation reads the lab's record (`/var/lib/kubelab/<name>/lab.json`, written by `up`),
rebuilds the plan from it (plan() is deterministic) and acts through the supervisor, netlab and
cleanup. `down` does not depend on the record: it stops whatever the supervisor recorded and
removes everything carrying the lab's prefix, so it also works after a crash or a `kill -9`.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import logging
import os
import shutil
import time
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubelab.lab import cleanup, health, kubeconfig, prereqs, procs, steps
from kubelab.lab.errors import LabError, LabNotFoundError, PrerequisiteError, Problem, SpecError
from kubelab.lab.plan import KV_CLIENT_PORT, Machine, Paths, Plan, Tools, plan
from kubelab.lab.records import (
    ProcessRecord,
    ProcState,
    read_daemon,
    read_json,
    read_processes,
    write_json,
)
from kubelab.lab.spec import kernel_prefix, name_problems, spec_from_dict, spec_to_dict
from kubelab.lab.supervisor_client import SupervisorClient, stop_recorded

log = logging.getLogger(__name__)


def has_module(name: str) -> bool:
    """True when `python -m name` can run: a module, or a package with a __main__."""
    try:
        found = importlib.util.find_spec(name)
        if found is None:
            return False
        if found.submodule_search_locations is not None:
            return importlib.util.find_spec(f"{name}.__main__") is not None
    except (ImportError, ValueError):
        return False
    return True


def system_probes() -> prereqs.Probes:
    return prereqs.Probes(
        euid=os.geteuid(),
        which=lambda tool: shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin"),
        has_module=has_module,
    )


def check_name(name: str) -> None:
    problems = name_problems(name)
    if problems:
        raise SpecError(problems)


@dataclass(frozen=True)
class LabRecord:
    plan: Plan
    kubeconfig: Path | None
    created: str
    tools: Tools = field(default_factory=Tools)


def read_record(root: Path, name: str) -> LabRecord | None:
    check_name(name)
    data = read_json(Paths(root / name).record)
    if not data:
        return None
    tools = Tools(**data.get("tools", {}))
    kc = data.get("kubeconfig")
    removed = frozenset(str(n) for n in data.get("removed", []))
    return LabRecord(
        plan=plan(spec_from_dict(data["spec"]), root=root, tools=tools, removed=removed),
        kubeconfig=Path(kc) if kc else None,
        created=str(data.get("created", "")),
        tools=tools,
    )


def require_record(root: Path, name: str) -> LabRecord:
    record = read_record(root, name)
    if record is None:
        raise LabNotFoundError(name)
    return record


def list_labs(root: Path) -> list[str]:
    if not root.is_dir():
        return []
    return sorted(d.name for d in root.iterdir() if (d / "lab.json").exists())


def supervisor_for(paths: Paths) -> SupervisorClient:
    return SupervisorClient(paths.supervisor, paths.logs)


# -- up / start / stop -------------------------------------------------------------------------


def up(
    lab: Plan,
    *,
    kubeconfig_path: Path,
    tools: Tools,
    probes: prereqs.Probes,
    out: Callable[[str], None] = print,
    network: steps.Step | None = None,
    wait_timeout: float = 60.0,
    port_open: Callable[[str, int], bool] = steps.port_open,
    nodes_ready: Callable[[Plan], set[str]] = steps.nodes_ready,
) -> None:
    """Check the name and every prerequisite, then run the up steps (undone in reverse if one
    fails), so a failed `up` leaves nothing behind."""
    ctx = steps.Context(
        plan=lab,
        kubeconfig=kubeconfig_path,
        supervisor=supervisor_for(lab.paths),
        out=out,
        wait_timeout=wait_timeout,
        port_open=port_open,
        nodes_ready=nodes_ready,
    )
    steps.CheckNameFree().execute(ctx)
    problems = prereqs.missing(lab, probes, network=network is None)
    if problems:
        raise PrerequisiteError("cannot start", "; ".join(problems))
    steps.run(steps.up_steps(tools.__dict__, network), ctx)


def stop(root: Path, name: str) -> list[str]:
    """Stop every process of the lab; keep its network, data and record."""
    record = require_record(root, name)
    paths = record.plan.paths
    return stop_recorded(paths.supervisor, paths.logs)


def start(
    root: Path,
    name: str,
    probes: prereqs.Probes,
    list_netns: Callable[[], list[str]],
    *,
    adapt: Callable[[Plan], Plan] = lambda p: p,
    port_open: Callable[[str, int], bool] = steps.port_open,
) -> None:
    """Start a stopped lab's processes again, with its data (objects, node names) kept, in
    `up`'s order: the stores, a quorum of them, then everything else.

    `adapt` rewrites the recorded plan before use (tests run stand-in processes through it).
    """
    record = require_record(root, name)
    lab = adapt(record.plan)
    problems = prereqs.missing(lab, probes, network=False)
    if problems:
        raise PrerequisiteError("cannot start", "; ".join(problems))
    present = set(list_netns())
    gone = [m.netns for m in lab.machines if m.netns not in present]
    if gone:
        raise LabError(
            f"the network of lab {name!r} is gone ({', '.join(gone[:3])}); "
            f"recreate the lab with `kubelab down --name {name}` then `kubelab up --name {name}`"
        )
    ctx = steps.Context(
        plan=lab,
        kubeconfig=record.kubeconfig or Path(),
        supervisor=supervisor_for(lab.paths),
        out=lambda line: None,
        port_open=port_open,
    )
    steps.run(steps.start_steps(), ctx)


# -- down --------------------------------------------------------------------------------------


@dataclass
class DownReport:
    processes: list[str] = field(default_factory=list)
    kernel: cleanup.CleanupPlan = field(default_factory=cleanup.CleanupPlan)
    failed: list[str] = field(default_factory=list)
    kubeconfigs: list[str] = field(default_factory=list)
    removed_dir: bool = False
    network: list[str] = field(default_factory=list)  # what netlab's down removed

    def summary(self) -> str:
        netlab = f"netlab: {len(self.network)} namespaces and links; " if self.network else ""
        return netlab + self.kernel.summary()

    @property
    def found_anything(self) -> bool:
        return bool(self.processes or not self.kernel.empty or self.kubeconfigs or self.removed_dir)


def _netlab_down(name: str, report: DownReport) -> None:
    """netlab's own `down` for the lab's prefix (its kernel objects and its record), when
    netlab is present; cleanup's scan then removes what is left (pods, cgroups, mounts)."""
    if not has_module("netlab.lifecycle"):
        return
    try:
        netlab: Any = importlib.import_module("netlab.lifecycle")
        removed = netlab.down(name)
    except Exception as exc:  # the scan still runs; report, don't stop
        report.failed.append(f"netlab down {name}: {exc}")
        return
    report.network = [*removed.namespaces, *removed.links]


def down(root: Path, name: str, kubeconfig_path: Path) -> DownReport:
    """Stop and remove everything of lab `name`: processes, kernel objects, files, context."""
    check_name(name)
    paths = Paths(root / name)
    report = DownReport()
    record = None
    try:
        record = read_record(root, name)
    except (LabError, ValueError, KeyError) as exc:  # a damaged record must not block down
        log.warning("unreadable lab record lab=%s error=%s", name, exc)
    if paths.supervisor.exists():
        report.processes = stop_recorded(paths.supervisor, paths.logs)
    _netlab_down(name, report)
    report.kernel, cleaned = cleanup.clean(kernel_prefix(name), paths.lab)
    report.failed += cleaned.failed
    for path in {kubeconfig_path, *([record.kubeconfig] if record and record.kubeconfig else [])}:
        try:
            if kubeconfig.remove_file(path, name):
                report.kubeconfigs.append(str(path))
        except LabError as exc:
            report.failed.append(str(exc))
    if paths.lab.exists():
        try:
            shutil.rmtree(paths.lab)
            report.removed_dir = True
        except OSError as exc:
            report.failed.append(f"remove {paths.lab}: {exc}")
    return report


# -- status ------------------------------------------------------------------------------------


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
    return ClusterView(store=tuple(store), leases=leases, nodes=nodes)


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
    lines += _render_cluster(st.cluster)
    return "\n".join(lines)


def _render_cluster(view: ClusterView | None) -> list[str]:
    if view is None:
        return ["cluster: not asked (the lab is not up)"]
    lines = [health.render_store(view.store)]
    if view.api_error is not None:
        return [*lines, f"apiserver: not reachable at {view.api_error}"]
    assert view.leases is not None
    assert view.nodes is not None
    held = ", ".join(f"{k} held by {v or 'nobody'}" for k, v in view.leases.items())
    lines.append(f"leases: {held}")
    if view.nodes:
        lines += ["", *_table([["NODE", "STATUS", "ROLES", "INTERNAL-IP"], *map(list, view.nodes)])]
    else:
        lines.append("nodes: none registered")
    return lines


def now() -> float:
    return time.time()


# -- node add / remove -------------------------------------------------------------------------


def _update_record(lab: Plan) -> None:
    """Rewrite the record's spec and removed workers (the rest of the record stays)."""
    data = read_json(lab.paths.record)
    data["spec"] = spec_to_dict(lab.spec)
    data["removed"] = list(lab.removed)
    write_json(lab.paths.record, data)


def _require_up(lab: Plan, list_netns: Callable[[], list[str]], command: str) -> None:
    present = set(list_netns())
    if not supervisor_for(lab.paths).alive() or any(m.netns not in present for m in lab.machines):
        raise LabError(
            f"lab {lab.spec.name!r} is not running; `kubelab start --name {lab.spec.name}` first, "
            f"then `kubelab {command}`"
        )


def node_add(
    root: Path,
    name: str,
    probes: prereqs.Probes,
    list_netns: Callable[[], list[str]],
    *,
    network: Callable[[Plan], None] | None = None,
    adapt: Callable[[Plan], Plan] = lambda p: p,
) -> Machine:
    """Add one worker to a running lab: its machine on the LAN, routes, kubeconfig, kubelet.

    `network(plan)` brings the whole plan's network up idempotently (default: netlab with the
    new topology); `adapt` rewrites the plan (tests run stand-in processes through it).
    """
    record = require_record(root, name)
    old = adapt(record.plan)
    _require_up(old, list_netns, "node add")
    spec = dataclasses.replace(old.spec, workers=old.spec.workers + 1)
    new = adapt(plan(spec, root=root, tools=record.tools, removed=frozenset(old.removed)))
    moved = [m.name for m in old.machines if (n := new.machine(m.name)) is None or n.ip != m.ip]
    if moved:
        raise LabError(
            f"adding a node to lab {name!r} would renumber {', '.join(moved)} (the LAN is too "
            "full for the address plan); create the lab with a larger --lan"
        )
    added = new.machines[-1]
    problems = prereqs.missing(new, probes, network=network is None)
    if problems:
        raise PrerequisiteError("cannot add a node", "; ".join(problems))
    client = supervisor_for(new.paths)
    try:
        if network is None:
            steps.CreateNetwork().execute(
                steps.Context(plan=new, kubeconfig=Path(), supervisor=client)
            )
        else:
            network(new)
        steps.write_machine_kubeconfig(new, added)
        for proc in added.processes:
            client.start(proc)
        _update_record(new)
    except BaseException:
        _remove_machine(new, added, client, list_netns)
        raise
    return added


def _remove_machine(
    lab: Plan, machine: Machine, client: SupervisorClient, list_netns: Callable[[], list[str]]
) -> list[str]:
    failed = []
    for proc in machine.processes:
        try:
            client.remove(proc.key)
        except LabError as exc:
            failed.append(f"process {proc.key}: {exc}")
    others = [(m.netns, str(machine.pod_cidr)) for m in lab.machines if m.name != machine.name]
    report = cleanup.remove_machine(machine.netns, others, list_netns())
    lab.paths.kubeconfig(machine.name).unlink(missing_ok=True)
    return failed + report.failed


@dataclass
class NodeRemoval:
    machine: Machine
    node_object: str  # what happened to the Node object
    failed: list[str] = field(default_factory=list)


def node_remove(
    root: Path,
    name: str,
    node: str,
    list_netns: Callable[[], list[str]],
    *,
    delete_node: Callable[[Plan, str], str] | None = None,
) -> NodeRemoval:
    """Take worker `node` out of the lab: its Node object, processes, machine, pod routes."""
    record = require_record(root, name)
    lab = record.plan
    machine = lab.machine(node)
    workers = [m.name for m in lab.workers]
    if machine is None or machine not in lab.workers:
        raise SpecError(
            [
                Problem(
                    "NODE",
                    node,
                    f"not a worker of lab {name}; workers: {', '.join(workers) or 'none'}",
                )
            ]
        )
    _require_up(lab, list_netns, f"node remove {node}")
    outcome = (delete_node or _delete_node_object)(lab, node)
    client = supervisor_for(lab.paths)
    failed = _remove_machine(lab, machine, client, list_netns)
    remaining = frozenset({*lab.removed, node})
    _update_record(plan(lab.spec, root=root, tools=record.tools, removed=remaining))
    return NodeRemoval(machine, outcome, failed)


def _delete_node_object(lab: Plan, node: str) -> str:
    # Only over the lab's own LAN: without its bridge on the host, a route could lead outside.
    if not Path("/sys/class/net", lab.bridge).exists():
        return f"Node {node} not deleted (the lab's LAN {lab.bridge} is not up)"
    try:
        health.api_request(lab.paths.lab / "kubeconfig", f"/api/v1/nodes/{node}", method="DELETE")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return f"no Node {node} was registered"
        return f"Node {node} not deleted ({exc}); `kubectl delete node {node}` removes it"
    except (OSError, ValueError, LabError) as exc:
        return f"Node {node} not deleted ({exc}); `kubectl delete node {node}` removes it"
    return f"Node {node} deleted"
