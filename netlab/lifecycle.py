"""`up`, `down` and `clean`: carry a `Plan` out in the kernel, and take it away again.

`up` is a sequence of small named steps. Each step that creates something registers how to undo
it; when a step fails, the steps before it are undone in reverse order and `ApplyError` names
the failing step with the kernel's errno message. Running `up` on a lab that is already up
creates nothing (EEXIST is success) and undoes nothing that it did not create.

`down` and `clean` need no plan: every kernel object of a lab carries its prefix, so they find
namespaces (`/run/netns/<prefix>-*`), root-namespace links (`<prefix>-*`) and iptables rules
(comment `netlab:<prefix>`, chains `<prefix>-*`) even after a crash lost the record.
"""

from __future__ import annotations

import errno
import logging
import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from pyroute2.netlink.exceptions import NetlinkError

from netlab import iptables, nsfs, rules, state
from netlab.errors import ApplyError, CommandError, LabNotFoundError
from netlab.faults_render import fault_drops
from netlab.model import Topology
from netlab.plan import HostPlan, Iface, Plan
from netlab.resolve import resolve
from netlab.rtnl import Rtnl, write_sysctl

log = logging.getLogger(__name__)


class Transaction:
    """Runs named steps; remembers how to undo the ones that created something."""

    def __init__(self) -> None:
        self.undo: list[tuple[str, Callable[[], object]]] = []

    def step(
        self, name: str, do: Callable[[], object], undo: Callable[[], object] | None = None
    ) -> object:
        try:
            created = do()
        except NetlinkError as exc:
            raise ApplyError(name, exc.code, os.strerror(exc.code)) from exc
        except OSError as exc:
            code = exc.errno
            raise ApplyError(name, code, os.strerror(code) if code else str(exc)) from exc
        except CommandError as exc:
            raise ApplyError(name, None, exc.stderr.strip() or str(exc)) from exc
        if created is not False and undo is not None:
            self.undo.append((name, undo))
        return created

    def rollback(self) -> None:
        for name, undo in reversed(self.undo):
            try:
                undo()
            except Exception as exc:  # keep undoing the rest; report what stayed
                log.warning("undo failed step=%r error=%s", name, exc)
        self.undo.clear()


def up(topology: Topology, *, prune: bool = False) -> Plan:
    """Bring a validated topology up; return its plan. Idempotent; all-or-nothing.

    With `prune`, namespaces and root-namespace links of the lab's prefix that the topology no
    longer has are removed first (a host dropped from the file goes away). Off by default:
    other software may create objects under the same prefix.
    """
    plan = resolve(topology)
    other = state.read(plan.prefix)
    if other is not None and other.name != plan.name:
        raise ApplyError(
            f"claim prefix {plan.prefix}",
            None,
            f"prefix {plan.prefix!r} belongs to running lab {other.name!r}; take that lab down"
            " or set another `prefix:`",
        )
    started = time.monotonic()
    if prune:
        _prune(plan)
    tx = Transaction()
    rt = Rtnl(keep=_socket_budget())
    try:
        _build(plan, rt, tx)
        tx.step("write the lab record", lambda: _record(topology, plan))
    except BaseException:
        rt.close()
        tx.rollback()
        raise
    finally:
        rt.close()
    log.info(
        "lab up lab=%s hosts=%d seconds=%.2f",
        plan.name,
        len(plan.hosts),
        time.monotonic() - started,
    )
    return plan


def _prune(plan: Plan) -> None:
    mine = f"{plan.prefix}-"
    wanted_ns = {h.netns for h in plan.hosts}
    nsfs.remove_many([ns for ns in nsfs.listed(mine) if ns not in wanted_ns])
    wanted_links = {i.ifname for i in plan.interfaces() if i.netns is None}
    with Rtnl() as rt:
        for name in _root_links(mine):
            if name not in wanted_links:
                log.info("prune link=%s", name)
                rt.delete(None, name)


def _record(topology: Topology, plan: Plan) -> None:
    old = state.read(plan.prefix)
    faults = old.faults if old is not None else state.Faults()
    state.save(state.Record(plan.name, plan.prefix, topology.source, topology.text, faults))


def _socket_budget() -> int:
    """How many namespaces may keep a netlink socket open: each costs 4 descriptors, and at
    most half of the process's descriptor limit is spent on them."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(8, min(1024, (soft - 64) // 8))


def _remove_ns(rt: Rtnl, ns: str) -> None:
    rt.forget(ns)
    nsfs.remove(ns)


def _apply_nat(host: HostPlan, prefix: str) -> None:
    saved = iptables.save(host.netns, "nat")
    text = rules.render_nat(host.masquerade, host.forwards, saved, prefix=prefix)
    iptables.restore(host.netns, text)


def _apply_guard(prefix: str) -> None:
    iptables.restore(None, rules.render_guard(prefix, iptables.save(None, "filter")))


def _apply_drops(netns: str, drops: list[rules.Drop], prefix: str) -> None:
    saved = iptables.save(netns, "filter")
    iptables.restore(netns, rules.render_faults(drops, saved, prefix=prefix))


def _build(plan: Plan, rt: Rtnl, tx: Transaction) -> None:
    for host in plan.hosts:
        ns = host.netns
        tx.step(f"create namespace {ns}", partial(nsfs.create, ns), partial(_remove_ns, rt, ns))
        tx.step(f"set lo up in {ns}", partial(rt.set, ns, "lo", state="up"))
    for br in plan.bridges:
        tx.step(
            f"create bridge {br.label} ({br.where})",
            partial(rt.add_bridge, br.netns, br.ifname),
            partial(rt.delete, br.netns, br.ifname),
        )
        _configure(br, rt, tx)
    for pair in plan.veths:
        # Create from the root side when there is one, so its end never needs moving.
        a, b = (pair.b, pair.a) if pair.b.netns is None else (pair.a, pair.b)
        created = tx.step(
            f"create veth {pair.label}",
            partial(rt.add_veth, a.netns, a.ifname, b.netns, b.ifname, a.master),
            partial(rt.delete, a.netns, a.ifname),
        )
        # A new port was created attached and up; an existing one is checked step by step.
        _configure(a, rt, tx, linked=bool(created) and a.master is not None)
        _configure(b, rt, tx)
    for vx in plan.vxlans:
        i = vx.iface
        tx.step(
            f"create vxlan {i.label} (vni {vx.vni})",
            partial(
                rt.add_vxlan,
                i.netns,
                i.ifname,
                vni=vx.vni,
                remote=vx.remote,
                local=vx.local,
                dev=vx.dev,
                port=vx.port,
            ),
            partial(rt.delete, i.netns, i.ifname),
        )
        _configure(i, rt, tx)
    for host in plan.hosts:
        ns = host.netns
        for key, value in host.sysctls:
            tx.step(f"set sysctl {key}={value} in {ns}", partial(write_sysctl, ns, key, value))
        for r in host.routes:
            tx.step(
                f"add route {r.dst} via {r.via or '-'} dev {r.dev or '-'} in {ns}",
                partial(rt.add_route, ns, r.dst, r.via, r.dev),
                partial(rt.del_route, ns, r.dst),
            )
        if host.masquerade or host.forwards:
            tx.step(f"apply NAT rules in {ns}", partial(_apply_nat, host, plan.prefix))
    if plan.guards_root:
        tx.step(
            "apply the host-access guard in the root namespace",
            partial(_apply_guard, plan.prefix),
            partial(_clean_iptables, plan.prefix),
        )
    old = state.read(plan.prefix)
    if old is not None:
        for name, drops in fault_drops(plan, old.faults).items():
            hp = plan.host(name)
            if hp is not None and drops:
                tx.step(
                    f"re-apply faults in {hp.netns}",
                    partial(_apply_drops, hp.netns, drops, plan.prefix),
                )


def _configure(i: Iface, rt: Rtnl, tx: Transaction, *, linked: bool = False) -> None:
    if i.master and not linked:
        tx.step(
            f"attach {i.where} to bridge {i.master}",
            partial(rt.set_master, i.netns, i.ifname, i.master),
        )
    for cidr in i.addresses:
        tx.step(
            f"add address {cidr} to {i.where}",
            partial(rt.add_address, i.netns, i.ifname, cidr),
            partial(rt.del_address, i.netns, i.ifname, cidr),
        )
    if not linked:
        tx.step(f"set {i.where} up", partial(rt.set, i.netns, i.ifname, state="up"))


@dataclass(frozen=True)
class Removed:
    """What `down`/`clean` removed for one prefix."""

    prefix: str
    namespaces: tuple[str, ...]
    links: tuple[str, ...]
    iptables: bool


def down(lab: str | Topology | Plan) -> Removed:
    """Take a lab down by name, prefix, topology or plan. Idempotent: a gone lab is fine."""
    if isinstance(lab, Topology | Plan):
        prefix = lab.prefix
    else:
        record = state.find(lab)
        if record is not None:
            prefix = record.prefix
        elif nsfs.listed(f"{lab}-"):
            prefix = lab
        else:
            return Removed(lab, (), (), False)
    return clean_prefix(prefix)


def clean(prefix: str | None = None) -> list[Removed]:
    """Remove everything of the lab with `prefix`, or of every recorded lab when None."""
    if prefix is not None:
        return [clean_prefix(prefix)]
    return [clean_prefix(r.prefix) for r in state.records()]


def clean_prefix(prefix: str, wait: float = 10.0) -> Removed:
    if not prefix or "-" in prefix or "/" in prefix:
        raise LabNotFoundError(prefix)
    mine = f"{prefix}-"
    namespaces = nsfs.listed(mine)
    root_links = _root_links(mine)
    with Rtnl() as rt:
        # Bridges first: their ports stop flooding; then namespaces, whose veths die with them.
        for name in root_links:
            if os.path.isdir(f"/sys/class/net/{name}/bridge"):
                rt.delete(None, name)
        nsfs.remove_many(namespaces)
        # The kernel destroys namespaces (and their veth peers here) asynchronously.
        deadline = time.monotonic() + wait
        while _root_links(mine) and time.monotonic() < deadline:
            time.sleep(0.05)
        for name in _root_links(mine):
            try:
                rt.delete(None, name)
            except NetlinkError as exc:
                if exc.code not in (errno.ENODEV, errno.ENOENT):
                    raise
    touched = _clean_iptables(prefix)
    state.remove(prefix)
    return Removed(prefix, tuple(namespaces), tuple(root_links), touched)


def _root_links(mine: str) -> list[str]:
    """Root-namespace interfaces whose names start with `mine` (this process is in the root
    namespace, whose /sys lists them far more cheaply than a netlink dump)."""
    return sorted(n for n in os.listdir("/sys/class/net") if n.startswith(mine))


def _clean_iptables(prefix: str) -> bool:
    saved = iptables.save(None)
    text = rules.render_cleanup(prefix, saved)
    if not text:
        return False
    iptables.restore(None, text)
    return True
