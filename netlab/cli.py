"""The `netlab` console script: bring declarative network labs up and down, inspect, break them.

Every command maps onto one library call; errors print as one clear message (exit 1 for a
problem with the lab or its file, 2 for usage), never a traceback.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import TypeVar

import click

from netlab import faults, nsfs, state
from netlab.errors import NetlabError
from netlab.lifecycle import clean as clean_labs
from netlab.lifecycle import down as down_lab
from netlab.lifecycle import up as up_lab
from netlab.loader import load
from netlab.naming import netns_name
from netlab.show import labs, status

T = TypeVar("T")


def _guard(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except NetlabError as exc:
        click.echo(f"netlab: {exc}", err=True)
        sys.exit(1)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option("0.1.0", prog_name="netlab")
@click.option("-v", "--verbose", is_flag=True, help="Log each step.")
def cli(verbose: bool) -> None:
    """netlab: declarative network labs on real namespaces, veth pairs and bridges."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s"
    )


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
def validate(file: str) -> None:
    """Check a topology FILE and list every problem in it."""
    topo = _guard(lambda: load(file))
    click.echo(f"{file}: lab {topo.name!r} (prefix {topo.prefix}) is valid")


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--prune", is_flag=True, help="Also remove hosts and root links the file dropped.")
def up(file: str, prune: bool) -> None:
    """Bring the lab in FILE up (again: creates only what is missing)."""
    plan = _guard(lambda: up_lab(load(file), prune=prune))
    click.echo(
        f"lab {plan.name} is up: {len(plan.hosts)} hosts, {len(plan.bridges)} bridges,"
        f" {len(plan.veths)} links (prefix {plan.prefix})"
    )


def _lab_arg(target: str) -> str:
    """A lab name/prefix, or the name of the lab in a topology file."""
    if os.path.isfile(target):
        return _guard(lambda: load(target)).prefix
    return target


@cli.command()
@click.argument("lab")
def down(lab: str) -> None:
    """Take a lab down: LAB is a topology file, a lab name or a prefix."""
    removed = _guard(lambda: down_lab(_lab_arg(lab)))
    click.echo(
        f"lab {lab}: removed {len(removed.namespaces)} namespaces,"
        f" {len(removed.links)} root-namespace links"
    )


@cli.command()
@click.option(
    "--prefix", help="Remove everything whose name starts with PREFIX- (no record needed)."
)
def clean(prefix: str | None) -> None:
    """Remove everything labs created: every recorded lab, or everything of one prefix."""
    removed = _guard(lambda: clean_labs(prefix))
    for r in removed:
        click.echo(
            f"prefix {r.prefix}: removed {len(r.namespaces)} namespaces, {len(r.links)} links"
            f"{', iptables rules' if r.iptables else ''}"
        )
    if not removed:
        click.echo("no recorded labs; use --prefix to clean by prefix")


@cli.command()
@click.argument("lab", required=False)
def show(lab: str | None) -> None:
    """List running labs, or show LAB's hosts, interfaces, addresses, routes and faults."""
    if lab is None:
        rows = labs()
        if not rows:
            click.echo("no labs")
        for name, prefix, count in rows:
            click.echo(f"{name}\tprefix={prefix}\tnamespaces={count}")
        return
    st = _guard(lambda: status(_lab_arg(lab)))
    click.echo(f"lab {st.name} (prefix {st.prefix}, from {st.source})")
    for host in st.hosts:
        click.echo(f"  {host.name} [{host.netns}]{'' if host.present else ' MISSING'}")
        for i in host.interfaces:
            flags = "UP" if i.up else "DOWN"
            if i.up and not i.carrier:
                flags += ",NO-CARRIER"
            master = f" master {i.master}" if i.master else ""
            click.echo(f"    {i.ifname:<15} {flags:<14} {' '.join(i.addresses)}{master}")
        for route in host.routes:
            click.echo(f"    route {route}")
    f = st.faults
    for p in f.partitions:
        arrow = "->" if p.oneway else "<->"
        click.echo(f"  fault: partition {','.join(p.a)} {arrow} {','.join(p.b)}")
    for endpoint, percent in f.loss:
        click.echo(f"  fault: loss {percent:g}% on {endpoint}")
    for endpoint, rate in f.bandwidth:
        click.echo(f"  fault: bandwidth {rate} on {endpoint}")
    for endpoint in f.down:
        click.echo(f"  fault: link of {endpoint} down")


@cli.command(name="exec", context_settings={"ignore_unknown_options": True})
@click.argument("lab")
@click.argument("host")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_(lab: str, host: str, command: tuple[str, ...]) -> None:
    """Run COMMAND inside HOST of LAB: `netlab exec LAB HOST -- CMD ARGS...`."""
    record = state.find(_lab_arg(lab))
    prefix = record.prefix if record is not None else lab
    netns = netns_name(prefix, host)
    if not nsfs.exists(netns):
        click.echo(f"netlab: lab {lab!r} has no running host {host!r} ({netns})", err=True)
        sys.exit(1)
    nsfs.enter_for_exec(netns)
    try:
        os.execvp(command[0], list(command))  # noqa: S606 -- exec is the point of `netlab exec`
    except OSError as exc:
        click.echo(f"netlab: cannot run {command[0]!r}: {exc.strerror}", err=True)
        sys.exit(127)


@cli.group()
def fault() -> None:
    """Break a running lab on purpose; `heal` undoes it all."""


@fault.command("link-down")
@click.argument("lab")
@click.argument("endpoint")
def link_down(lab: str, endpoint: str) -> None:
    """Set the link of ENDPOINT (host:ifname) down at both ends."""
    _guard(lambda: faults.link_down(lab, endpoint))


@fault.command("link-up")
@click.argument("lab")
@click.argument("endpoint")
def link_up(lab: str, endpoint: str) -> None:
    """Set the link of ENDPOINT (host:ifname) up at both ends."""
    _guard(lambda: faults.link_up(lab, endpoint))


def _names(text: str) -> list[str]:
    return [n for n in text.split(",") if n]


@fault.command()
@click.argument("lab")
@click.option("--a", "side_a", required=True, help="Hosts on one side, comma-separated.")
@click.option("--b", "side_b", required=True, help="Hosts on the other side.")
@click.option("--oneway", is_flag=True, help="Cut only traffic from A to B.")
def partition(lab: str, side_a: str, side_b: str, oneway: bool) -> None:
    """Cut traffic between hosts A and hosts B (both ways unless --oneway)."""
    _guard(lambda: faults.partition(lab, _names(side_a), _names(side_b), oneway=oneway))


@fault.command()
@click.argument("lab")
@click.argument("endpoint")
@click.argument("percent", type=float)
def loss(lab: str, endpoint: str, percent: float) -> None:
    """Drop PERCENT of what arrives on ENDPOINT (0 removes the loss)."""
    _guard(lambda: faults.loss(lab, endpoint, percent))


@fault.command()
@click.argument("lab")
@click.argument("endpoint")
@click.argument("rate")
def bandwidth(lab: str, endpoint: str, rate: str) -> None:
    """Limit what ENDPOINT sends to RATE (e.g. 1mbit), with tbf."""
    _guard(lambda: faults.bandwidth(lab, endpoint, rate))


@fault.command()
@click.argument("lab")
@click.argument("endpoint")
@click.argument("ms", type=float)
@click.option("--jitter", type=float, default=0.0, help="Jitter in ms.")
def delay(lab: str, endpoint: str, ms: float, jitter: float) -> None:
    """Delay what ENDPOINT sends by MS milliseconds (needs netem)."""
    _guard(lambda: faults.delay(lab, endpoint, ms, jitter))


@fault.command()
@click.argument("lab")
def heal(lab: str) -> None:
    """Undo every fault of LAB."""
    _guard(lambda: faults.heal(lab))


def main() -> None:
    cli()


__all__ = ["cli", "main"]
