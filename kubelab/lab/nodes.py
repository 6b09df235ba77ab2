"""`kubelab node add` / `kubelab node remove`: workers joining and leaving a running lab.

A removed worker keeps its place in the plan (index, address, pod subnet are never reused while
the lab lives), recorded in the lab's record, so nothing stale can point at a new machine.
"""

from __future__ import annotations

import dataclasses
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kubelab.lab import cleanup, health, prereqs, steps
from kubelab.lab.errors import LabError, PrerequisiteError, Problem, SpecError
from kubelab.lab.lifecycle import require_record, supervisor_for
from kubelab.lab.plan import Machine, Plan, plan
from kubelab.lab.records import read_json, write_json
from kubelab.lab.spec import spec_to_dict
from kubelab.lab.supervisor_client import SupervisorClient


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
    report = cleanup.remove_machine(
        machine.netns, others, list_netns(), lab.paths.machine(machine.name)
    )
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
