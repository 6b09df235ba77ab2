"""Lab lifecycle operations behind the CLI: up, down, stop, start (status: kubelab.lab.status;
node add/remove: kubelab.lab.nodes).

Each operation reads the lab's record (`/var/lib/kubelab/<name>/lab.json`, written by `up`),
rebuilds the plan from it (plan() is deterministic) and acts through the supervisor, netlab and
cleanup. `down` does not depend on the record: it stops whatever the supervisor recorded and
removes everything carrying the lab's prefix, so it also works after a crash or a `kill -9`.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kubelab.lab import cleanup, kubeconfig, prereqs, steps
from kubelab.lab.errors import LabError, LabNotFoundError, PrerequisiteError, SpecError
from kubelab.lab.plan import Paths, Plan, Tools, plan
from kubelab.lab.records import (
    read_json,
)
from kubelab.lab.spec import kernel_prefix, name_problems, spec_from_dict
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

    def summary(self) -> str:
        return self.kernel.summary()

    @property
    def found_anything(self) -> bool:
        return bool(self.processes or not self.kernel.empty or self.kubeconfigs or self.removed_dir)


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
    # The kubelets leave their pods running when stopped (as upstream): clean ends them.
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
