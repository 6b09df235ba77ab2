"""The `kubelab` console script: lab lifecycle on the host.

A thin edge over kubelab.lab.lifecycle: parse flags, call one operation, print the result or a
one-line error (exit 1). Commands that need parts of the cluster not yet built say so and exit
non-zero; none pretends.

Labs live under /var/lib/kubelab/<name>/ ($KUBELAB_ROOT overrides the parent directory).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeVar

import click

import kubelab
from kubelab.lab import lifecycle, nodes, steps
from kubelab.lab import status as status_view
from kubelab.lab.errors import LabError, SpecError
from kubelab.lab.kubeconfig import context_name, default_path
from kubelab.lab.plan import DEFAULT_ROOT, Plan, Tools, plan
from kubelab.lab.spec import (
    DEFAULT_LAN,
    DEFAULT_NAME,
    DEFAULT_POD_CIDR,
    DEFAULT_SERVICE_CIDR,
    Store,
    spec_from_flags,
)

T = TypeVar("T")


def lab_root() -> Path:
    return Path(os.environ.get("KUBELAB_ROOT") or DEFAULT_ROOT)


def fail(command: str, message: str) -> NoReturn:
    click.echo(f"kubelab {command}: {message}", err=True)
    sys.exit(1)


def guarded(command: str, action: Callable[[], T]) -> T:
    """Run `action`; a LabError becomes one line per problem on stderr and exit status 1."""
    try:
        return action()
    except SpecError as exc:
        for problem in exc.problems:
            click.echo(f"kubelab {command}: {problem}", err=True)
        sys.exit(1)
    except LabError as exc:
        fail(command, str(exc))
    except OSError as exc:  # e.g. permission denied on the lab dir: one line, no traceback
        fail(command, str(exc))


def require_root(command: str) -> None:
    if os.geteuid() != 0:
        fail(command, "must run as root (namespaces, links, iptables, processes): use sudo")


name_option = click.option(
    "--name",
    default=DEFAULT_NAME,
    show_default=True,
    help="Cluster name: 2-8 lowercase letters/digits; prefixes every kernel object of the lab.",
)
kubeconfig_option = click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Kubeconfig to merge the lab's context into [default: $KUBECONFIG or ~/.kube/config].",
)


def _kubeconfig(path: Path | None) -> Path:
    return path or default_path(os.environ, Path.home())


def _tools() -> Tools:
    def find(tool: str) -> str:
        return shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin") or tool

    return Tools(python=sys.executable, etcd=find("etcd"), haproxy=find("haproxy"))


def _print_plan(lab: Plan) -> None:
    spec = lab.spec
    click.echo(
        f"lab {spec.name}: {spec.control_planes} control plane(s), {spec.workers} worker(s), "
        f"store {spec.store.value}{', fast profile' if spec.fast else ''}"
    )
    click.echo(f"  LAN {spec.lan} on bridge {lab.bridge}, host {lab.host_ip}")
    click.echo(f"  API {lab.api_endpoint}" + (" (HAProxy on the host)" if lab.vip else ""))
    click.echo(f"  pods {spec.pod_cidr}, services {spec.service_cidr}; data in {lab.paths.lab}")
    for m in lab.machines:
        click.echo(f"  {m.name}: {m.role.value} {m.ip} pods {m.pod_cidr} netns {m.netns}")
    click.echo("processes:")
    for proc in lab.processes():
        where = f"netns {proc.netns}" if proc.netns else "host"
        click.echo(f"  {proc.key} [{where}]: {' '.join(proc.argv)}")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(kubelab.__version__, prog_name="kubelab")
def cli() -> None:
    """kubelab: a real Kubernetes-style cluster on one Linux machine."""


@cli.command()
@name_option
@click.option(
    "--control-planes", type=int, default=3, show_default=True, help="Control-plane machines."
)
@click.option("--nodes", type=int, default=2, show_default=True, help="Worker machines.")
@click.option(
    "--store",
    default=Store.KVSTORE.value,
    show_default=True,
    help="kvstore (kubelab's Raft store) or etcd (Debian's etcd).",
)
@click.option("--fast", is_flag=True, help="Short timeouts for demos and HA experiments.")
@click.option("--lan", default=str(DEFAULT_LAN), show_default=True, help="The machines' LAN.")
@click.option("--pod-cidr", default=str(DEFAULT_POD_CIDR), show_default=True, help="Pod network.")
@click.option(
    "--service-cidr", default=str(DEFAULT_SERVICE_CIDR), show_default=True, help="Service network."
)
@kubeconfig_option
@click.option(
    "--wait",
    type=click.FloatRange(min=1),
    default=120.0,
    show_default=True,
    help="Seconds to wait for each readiness step (stores, apiserver, nodes Ready).",
)
@click.option("--dry-run", is_flag=True, help="Print the plan (machines, addresses, argv) only.")
def up(  # noqa: PLR0917 - click passes every option by keyword
    name: str,
    control_planes: int,
    nodes: int,
    store: str,
    fast: bool,
    lan: str,
    pod_cidr: str,
    service_cidr: str,
    kubeconfig: Path | None,
    wait: float,
    dry_run: bool,
) -> None:
    """Create a cluster: machines, control planes, workers, and a kubectl context."""
    spec = guarded(
        "up",
        lambda: spec_from_flags(
            name=name,
            control_planes=control_planes,
            nodes=nodes,
            store=store,
            fast=fast,
            lan=lan,
            pod_cidr=pod_cidr,
            service_cidr=service_cidr,
        ),
    )
    tools = _tools()
    lab = plan(spec, root=lab_root(), tools=tools)
    if dry_run:
        _print_plan(lab)
        return
    kc = _kubeconfig(kubeconfig)
    guarded(
        "up",
        lambda: lifecycle.up(
            lab,
            kubeconfig_path=kc,
            tools=tools,
            probes=lifecycle.system_probes(),
            out=lambda line: click.echo(line, err=True),
            wait_timeout=wait,
        ),
    )
    click.echo(
        f"lab {name} is up: {spec.control_planes} control plane(s), {spec.workers} worker(s), "
        f"every node Ready; API {lab.api_endpoint}; logs in {lab.paths.logs}\n"
        f"kubectl context {context_name(name)} is current in {kc}. Try:\n"
        f"  kubectl get nodes -o wide\n  kubelab status --name {name}\n"
        f"  kubelab down --name {name}"
    )


@cli.command()
@name_option
@kubeconfig_option
def down(name: str, kubeconfig: Path | None) -> None:
    """Delete a cluster: stop its processes, remove every kernel object, file and context."""
    require_root("down")
    report = guarded("down", lambda: lifecycle.down(lab_root(), name, _kubeconfig(kubeconfig)))
    if not report.found_anything and not report.failed:
        click.echo(f"lab {name}: nothing to remove")
        return
    click.echo(
        f"lab {name}: stopped {len(report.processes)} processes; removed {report.summary()}"
        + (
            f"; context {context_name(name)} from {', '.join(report.kubeconfigs)}"
            if report.kubeconfigs
            else ""
        )
        + ("; its directory" if report.removed_dir else "")
    )
    if report.failed:
        for line in report.failed:
            click.echo(f"kubelab down: could not remove {line}", err=True)
        sys.exit(1)


@cli.command()
@name_option
def stop(name: str) -> None:
    """Stop a cluster's processes, keeping its machines and data for `kubelab start`."""
    require_root("stop")
    stopped = guarded("stop", lambda: lifecycle.stop(lab_root(), name))
    click.echo(
        f"lab {name}: stopped {len(stopped)} processes; `kubelab start --name {name}` resumes"
    )


@cli.command()
@name_option
def start(name: str) -> None:
    """Start a stopped cluster again, with its data."""
    require_root("start")
    guarded(
        "start",
        lambda: lifecycle.start(
            lab_root(), name, lifecycle.system_probes(), steps.Context.default_list_netns()
        ),
    )
    click.echo(f"lab {name}: processes started; `kubelab status --name {name}` shows them")


@cli.command()
@name_option
def status(name: str) -> None:
    """Show machines and processes (state, pid, uptime, restarts)."""
    st = guarded(
        "status",
        lambda: status_view.status(
            lab_root(), name, steps.Context.default_list_netns(), status_view.now()
        ),
    )
    click.echo(status_view.render_status(st))


@cli.group()
def node() -> None:
    """Add or remove a worker machine of a running cluster."""


@node.command("add")
@name_option
def node_add(name: str) -> None:
    """Add a worker machine to a running cluster."""
    require_root("node add")
    added = guarded(
        "node add",
        lambda: nodes.node_add(
            lab_root(), name, lifecycle.system_probes(), steps.Context.default_list_netns()
        ),
    )
    click.echo(
        f"lab {name}: added {added.name} ({added.ip}, pods {added.pod_cidr}, netns {added.netns})"
    )


@node.command("remove")
@name_option
@click.argument("node_name", metavar="NODE")
def node_remove(name: str, node_name: str) -> None:
    """Remove worker machine NODE (e.g. node-2) from a running cluster."""
    require_root("node remove")
    done = guarded(
        "node remove",
        lambda: nodes.node_remove(lab_root(), name, node_name, steps.Context.default_list_netns()),
    )
    click.echo(f"lab {name}: removed {done.machine.name}; {done.node_object}")
    for line in done.failed:
        click.echo(f"kubelab node remove: could not remove {line}", err=True)
    if done.failed:
        sys.exit(1)


def main() -> None:
    cli()
