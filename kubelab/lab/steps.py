"""`kubelab up` as ordered small steps, each one `execute(ctx)` and undoable (kind's actions).

`run()` executes the steps in order; when one fails, the steps already done are undone in
reverse order, so a failed `up` leaves nothing half-built, and the error is re-raised. Each step
is a small class with a `name` the CLI prints as it goes.

The steps that need parts of the cluster (netlab for the machines' network, the apiserver for
the admin kubeconfig) call them through narrow seams (`NETWORK_MODULES`, files the components
write); `prereqs.missing()` runs before any step, so none of them starts when a part is absent.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

from kubelab.lab import haproxy, health, kubeconfig
from kubelab.lab.errors import LabError, LabExistsError
from kubelab.lab.plan import KV_CLIENT_PORT, Machine, Plan, ProcessSpec
from kubelab.lab.records import write_json
from kubelab.lab.spec import Store, kernel_prefix, spec_to_dict
from kubelab.lab.supervisor_client import SupervisorClient, stop_recorded
from kubelab.lab.topology import topology

log = logging.getLogger(__name__)


@dataclass
class Context:
    plan: Plan
    kubeconfig: Path  # the user's kubeconfig to merge the lab's context into
    supervisor: SupervisorClient
    out: Callable[[str], None] = print
    wait_timeout: float = 60.0
    list_netns: Callable[[], list[str]] = field(default_factory=lambda: list_netns)
    port_open: Callable[[str, int], bool] = field(default_factory=lambda: port_open)
    nodes_ready: Callable[[Plan], set[str]] = field(default_factory=lambda: nodes_ready)

    @staticmethod
    def default_list_netns() -> Callable[[], list[str]]:
        return list_netns


class Step(Protocol):
    @property
    def name(self) -> str: ...

    def execute(self, ctx: Context) -> None: ...

    def undo(self, ctx: Context) -> None: ...


def run(steps: Sequence[Step], ctx: Context) -> None:
    """Execute `steps` in order; on failure undo the completed ones in reverse, then raise.

    An unexpected error (not a LabError) is re-raised as a LabError naming the step, so the
    CLI can print one line; the original stays chained for the log.
    """
    done: list[Step] = []
    current = ""
    try:
        for step in steps:
            current = step.name
            ctx.out(f" • {step.name}")
            step.execute(ctx)
            done.append(step)
    except BaseException as exc:
        for step in reversed(done):
            try:
                step.undo(ctx)
            except Exception:
                log.exception("undo failed step=%s", step.name)
        if isinstance(exc, Exception) and not isinstance(exc, LabError):
            log.error("step failed step=%r", current, exc_info=exc)
            raise LabError(f"{current}: {type(exc).__name__}: {exc} (undone)") from exc
        raise


def port_open(host: str, port: int) -> bool:
    """A TCP connect to a lab address (the host is on the lab LAN) succeeds."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def nodes_ready(plan: Plan) -> set[str]:
    """The lab's Ready nodes, from its apiserver (through the lab's own kubeconfig)."""
    return health.ready_nodes(plan.paths.lab / "kubeconfig")


def list_netns() -> list[str]:
    """Names of every network namespace (`ip netns list`)."""
    out = subprocess.run(["ip", "-o", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


@dataclass(frozen=True)
class CheckNameFree:
    name: str = "check that the lab name is free"

    def execute(self, ctx: Context) -> None:
        plan = ctx.plan
        if plan.paths.record.exists():
            raise LabExistsError(plan.spec.name, f"{plan.paths.record} exists")
        prefix = kernel_prefix(plan.spec.name)
        taken = sorted(n for n in ctx.list_netns() if n.startswith(prefix))
        if taken:
            raise LabExistsError(plan.spec.name, f"network namespaces {', '.join(taken[:3])}")

    def undo(self, ctx: Context) -> None:
        pass


@dataclass(frozen=True)
class WriteRecord:
    """The lab's directory and record: from here on, `kubelab down` knows the lab."""

    tools: dict[str, str] = field(default_factory=dict)
    name: str = "write the lab record"

    def execute(self, ctx: Context) -> None:
        paths = ctx.plan.paths
        paths.lab.parent.mkdir(parents=True, exist_ok=True)
        try:
            paths.lab.mkdir(exist_ok=False, mode=0o700)
        except FileExistsError:
            raise LabExistsError(ctx.plan.spec.name, f"{paths.lab} exists") from None
        write_json(
            paths.record,
            {
                "spec": spec_to_dict(ctx.plan.spec),
                "tools": self.tools,
                "kubeconfig": str(ctx.kubeconfig),
                "removed": list(ctx.plan.removed),
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            },
        )

    def undo(self, ctx: Context) -> None:
        shutil.rmtree(ctx.plan.paths.lab, ignore_errors=True)


@dataclass(frozen=True)
class WriteSecrets:
    name: str = "write the store's peer secret"

    def execute(self, ctx: Context) -> None:
        plan = ctx.plan
        if plan.spec.store is not Store.KVSTORE or len(plan.control_planes) < 2:
            return
        path = plan.paths.peer_secret
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.touch(mode=0o600)
        path.write_text(secrets.token_hex(32) + "\n")

    def undo(self, ctx: Context) -> None:
        ctx.plan.paths.peer_secret.unlink(missing_ok=True)


@dataclass(frozen=True)
class CreateNetwork:
    """The machines and their LAN, built by netlab from kubelab.lab.topology."""

    name: str = "create the machines and their network (netlab)"

    def execute(self, ctx: Context) -> None:
        path = ctx.plan.paths.lab / "topology.yaml"
        path.write_text(yaml.safe_dump(topology(ctx.plan), sort_keys=False))
        loader: Any = importlib.import_module("netlab.loader")
        lifecycle: Any = importlib.import_module("netlab.lifecycle")
        lifecycle.up(loader.load(path))

    def undo(self, ctx: Context) -> None:
        lifecycle: Any = importlib.import_module("netlab.lifecycle")
        lifecycle.down(ctx.plan.spec.name)


@dataclass(frozen=True)
class WriteLoadBalancerConfig:
    name: str = "write the API load balancer's config"

    def execute(self, ctx: Context) -> None:
        if ctx.plan.vip is None:
            return
        ctx.plan.paths.haproxy_config.write_text(haproxy.render(haproxy.for_plan(ctx.plan)))

    def undo(self, ctx: Context) -> None:
        ctx.plan.paths.haproxy_config.unlink(missing_ok=True)


@dataclass(frozen=True)
class StartSupervisor:
    name: str = "start the lab's supervisor"

    def execute(self, ctx: Context) -> None:
        ctx.supervisor.ensure_running()

    def undo(self, ctx: Context) -> None:
        stop_recorded(ctx.supervisor.state_dir, ctx.supervisor.logs_dir)


@dataclass(frozen=True)
class StartProcesses:
    """Start the plan's processes whose name `select` accepts, in plan order."""

    select: Callable[[ProcessSpec], bool]
    name: str = "start processes"

    def execute(self, ctx: Context) -> None:
        for proc in ctx.plan.processes():
            if self.select(proc):
                rec = ctx.supervisor.start(proc)
                pid = rec.ident.pid if rec.ident else "-"
                log.info("started process=%s pid=%s", proc.key, pid)

    def undo(self, ctx: Context) -> None:
        pass  # StartSupervisor's undo stops every process of the lab


@dataclass(frozen=True)
class WaitStores:
    """A majority of the stores listen on their client port, so the first apiserver finds one
    (it would exit and be restarted otherwise: correct, but noisy)."""

    name: str = "wait for a quorum of the stores"

    def execute(self, ctx: Context) -> None:
        targets = [str(m.ip) for m in ctx.plan.control_planes]
        need = len(targets) // 2 + 1
        deadline = time.monotonic() + ctx.wait_timeout
        while (up := sum(ctx.port_open(ip, KV_CLIENT_PORT) for ip in targets)) < need:
            if time.monotonic() >= deadline:
                raise LabError(
                    f"only {up} of {len(targets)} stores listen on :{KV_CLIENT_PORT} after "
                    f"{ctx.wait_timeout:.0f}s; see {ctx.plan.paths.logs}/cp-*/kvstore.log"
                )
            time.sleep(0.1)

    def undo(self, ctx: Context) -> None:
        pass


@dataclass(frozen=True)
class WaitAdminKubeconfig:
    """The first apiserver creates the cluster's PKI and admin.kubeconfig in the shared cert
    dir; the others start after it, so they reuse that CA instead of racing to make one."""

    name: str = "wait for the first apiserver's admin kubeconfig"

    def execute(self, ctx: Context) -> None:
        plan = ctx.plan
        admin_path = plan.paths.admin_kubeconfig
        deadline = time.monotonic() + ctx.wait_timeout
        while not admin_path.exists():
            if time.monotonic() >= deadline:
                raise LabError(
                    f"the apiserver did not write {admin_path} within {ctx.wait_timeout:.0f}s; "
                    f"see {plan.paths.log(plan.machines[0].name, 'apiserver')}"
                )
            time.sleep(0.1)

    def undo(self, ctx: Context) -> None:
        pass


def write_machine_kubeconfig(plan: Plan, machine: Machine) -> None:
    """The kubeconfig the machine's components use: the admin credentials, its API address."""
    admin = kubeconfig.load(plan.paths.admin_kubeconfig)
    cluster, user = kubeconfig.lab_entry(admin, machine.api_server)
    kubeconfig.save(
        plan.paths.kubeconfig(machine.name),
        kubeconfig.merge(kubeconfig.empty(), plan.spec.name, cluster, user),
    )


@dataclass(frozen=True)
class WriteKubeconfigs:
    """One kubeconfig per machine (its apiserver address) and the user's merged context."""

    name: str = "write kubeconfigs and merge the lab's context"

    def execute(self, ctx: Context) -> None:
        plan = ctx.plan
        admin = kubeconfig.load(plan.paths.admin_kubeconfig)
        for machine in plan.machines:
            write_machine_kubeconfig(plan, machine)
        cluster, user = kubeconfig.lab_entry(admin, plan.api_endpoint)
        kubeconfig.save(
            plan.paths.lab / "kubeconfig",
            kubeconfig.merge(kubeconfig.empty(), plan.spec.name, cluster, user),
        )
        kubeconfig.merge_file(ctx.kubeconfig, plan.spec.name, cluster, user)

    def undo(self, ctx: Context) -> None:
        kubeconfig.remove_file(ctx.kubeconfig, ctx.plan.spec.name)


def _stores(proc: ProcessSpec) -> bool:
    return proc.name == "kvstore"


def _first_apiserver(proc: ProcessSpec) -> bool:
    return proc.key == "cp-1/apiserver"


@dataclass(frozen=True)
class WaitNodesReady:
    """Every machine registered as a node and Ready: the lab is usable."""

    name: str = "wait until every node is Ready"

    def execute(self, ctx: Context) -> None:
        want = {m.name for m in ctx.plan.machines}
        deadline = time.monotonic() + ctx.wait_timeout
        last = ""
        while True:
            try:
                missing = want - ctx.nodes_ready(ctx.plan)
                last = ""
            except (OSError, ValueError, LabError) as exc:
                missing, last = want, f" (apiserver: {exc})"
            if not missing:
                return
            if time.monotonic() >= deadline:
                raise LabError(
                    f"not Ready after {ctx.wait_timeout:.0f}s: {', '.join(sorted(missing))}{last};"
                    f" see {ctx.plan.paths.logs}/<machine>/kubelet.log"
                )
            time.sleep(0.5)

    def undo(self, ctx: Context) -> None:
        pass


def _first_phase(proc: ProcessSpec) -> bool:
    return _stores(proc) or _first_apiserver(proc)


def _second_phase(proc: ProcessSpec) -> bool:
    return proc.name in ("apiserver", "haproxy") and not _first_phase(proc)


def _last_phase(proc: ProcessSpec) -> bool:
    return not (_first_phase(proc) or _second_phase(proc))


def up_steps(tools: dict[str, str], network: Step | None = None) -> list[Step]:
    """The steps of `kubelab up`, in order (`network` replaces netlab, e.g. in tests)."""
    return [
        CheckNameFree(),
        WriteRecord(tools),
        WriteSecrets(),
        network or CreateNetwork(),
        WriteLoadBalancerConfig(),
        StartSupervisor(),
        StartProcesses(_stores, "start the stores"),
        WaitStores(),
        StartProcesses(_first_apiserver, "start the first apiserver"),
        WaitAdminKubeconfig(),
        StartProcesses(_second_phase, "start the other apiservers and the load balancer"),
        WriteKubeconfigs(),
        StartProcesses(_last_phase, "start the schedulers and kubelets"),
        WaitNodesReady(),
    ]


def start_steps() -> list[Step]:
    """`kubelab start`: the processes of an existing lab, in `up`'s order."""
    return [
        StartSupervisor(),
        StartProcesses(_stores, "start the stores"),
        WaitStores(),
        StartProcesses(lambda p: not _stores(p), "start everything else"),
    ]


def with_argv(plan: Plan, argv_for: Callable[[ProcessSpec], tuple[str, ...]]) -> Plan:
    """`plan` with every process's argv replaced (stand-in processes for tests and dry runs)."""
    machines = tuple(
        dataclasses.replace(
            m, processes=tuple(dataclasses.replace(p, argv=argv_for(p)) for p in m.processes)
        )
        for m in plan.machines
    )
    hosts = tuple(dataclasses.replace(p, argv=argv_for(p)) for p in plan.host_processes)
    return dataclasses.replace(plan, machines=machines, host_processes=hosts)
