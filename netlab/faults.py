"""Faults on a running lab: link down/up, partitions, packet loss, bandwidth, delay; heal.

Each fault is recorded in the lab's record, then the affected namespaces are re-programmed
(one `iptables-restore` per namespace), so faults survive a re-`up` and `heal` knows what to
undo. Delay and jitter need the kernel's netem qdisc; where it is missing the error says so and
names what works instead.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import ParamSpec, TypeVar

from pyroute2.netlink.exceptions import NetlinkError

from netlab import iptables, rules, state
from netlab.errors import (
    ApplyError,
    CommandError,
    FaultError,
    LabNotFoundError,
    UnsupportedFaultError,
)
from netlab.faults_render import endpoint_labels, fault_drops
from netlab.loader import load_text
from netlab.plan import Iface, Plan
from netlab.resolve import resolve
from netlab.rtnl import Rtnl

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


def _kernel_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Report a failing kernel call as ApplyError naming the fault, never as a raw exception."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        step = f"fault {fn.__name__} {' '.join(str(a) for a in args)}".strip()
        try:
            return fn(*args, **kwargs)
        except NetlinkError as exc:
            raise ApplyError(step, exc.code, os.strerror(exc.code)) from exc
        except CommandError as exc:
            raise ApplyError(step, None, exc.stderr.strip() or str(exc)) from exc
        except OSError as exc:
            raise ApplyError(step, exc.errno, exc.strerror or str(exc)) from exc

    return wrapper


_RATE_RE = re.compile(r"^\d+(\.\d+)?(bit|kbit|mbit|gbit|bps|kbps|mbps|gbps)$")


def open_lab(lab: str) -> tuple[Plan, state.Record]:
    """The plan and record of a running lab, by name or prefix."""
    record = state.find(lab)
    if record is None:
        raise LabNotFoundError(lab)
    return resolve(load_text(record.text, record.source)), record


def _endpoint(plan: Plan, label: str) -> Iface:
    for iface in plan.interfaces():
        if iface.label == label and ":" in label and not label.startswith("root:"):
            return iface
    known = ", ".join(endpoint_labels(plan))
    raise FaultError(f"lab {plan.name!r} has no host interface {label!r}; it has: {known}")


def _hosts(plan: Plan, names: Sequence[str], side: str) -> tuple[str, ...]:
    known = {h.name for h in plan.hosts}
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        listed = ", ".join(sorted(known))
        what = f"unknown hosts {', '.join(unknown)}" if unknown else "no hosts given"
        raise FaultError(f"partition side {side}: {what}; lab {plan.name!r} has: {listed}")
    return tuple(names)


def _commit(plan: Plan, record: state.Record, faults: state.Faults) -> None:
    before = fault_drops(plan, record.faults)
    after = fault_drops(plan, faults)
    for host in plan.hosts:
        if before.get(host.name) != after.get(host.name):
            saved = iptables.save(host.netns, "filter")
            text = rules.render_faults(after[host.name], saved, prefix=plan.prefix)
            iptables.restore(host.netns, text)
    state.save(replace(record, faults=faults))


@_kernel_errors
def partition(lab: str, a: Sequence[str], b: Sequence[str], *, oneway: bool = False) -> None:
    """Cut traffic between hosts `a` and hosts `b` (only from `a` to `b` when `oneway`)."""
    plan, record = open_lab(lab)
    part = state.Partition(_hosts(plan, a, "a"), _hosts(plan, b, "b"), oneway)
    faults = replace(record.faults, partitions=(*record.faults.partitions, part))
    _commit(plan, record, faults)
    log.info("partition lab=%s a=%s b=%s oneway=%s", plan.name, a, b, oneway)


@_kernel_errors
def loss(lab: str, endpoint: str, percent: float) -> None:
    """Drop `percent` of the packets arriving on `endpoint` (`h1:eth0`); 0 removes the loss."""
    plan, record = open_lab(lab)
    _endpoint(plan, endpoint)
    if not 0 <= percent <= 100:
        raise FaultError(f"loss percent {percent} is outside 0-100")
    kept = tuple((e, p) for e, p in record.faults.loss if e != endpoint)
    new = (*kept, (endpoint, float(percent))) if percent > 0 else kept
    _commit(plan, record, replace(record.faults, loss=new))


@_kernel_errors
def bandwidth(lab: str, endpoint: str, rate: str, *, burst: int = 32768) -> None:
    """Limit what `endpoint` sends to `rate` (e.g. `1mbit`) with a tbf qdisc."""
    plan, record = open_lab(lab)
    iface = _endpoint(plan, endpoint)
    if not _RATE_RE.match(rate):
        raise FaultError(f"rate {rate!r} is not accepted; write e.g. 512kbit, 10mbit, 1gbit")
    with Rtnl() as rt:
        rt.set_tbf(iface.netns, iface.ifname, rate, burst, "50ms")
    kept = tuple((e, r) for e, r in record.faults.bandwidth if e != endpoint)
    state.save(replace(record, faults=replace(record.faults, bandwidth=(*kept, (endpoint, rate)))))


@_kernel_errors
def delay(lab: str, endpoint: str, delay_ms: float, jitter_ms: float = 0.0) -> None:
    """Delay what `endpoint` sends (netem). Raises UnsupportedFaultError without netem."""
    plan, _ = open_lab(lab)
    iface = _endpoint(plan, endpoint)
    with Rtnl() as rt:
        try:
            rt.add_netem(iface.netns, iface.ifname, int(delay_ms * 1000), int(jitter_ms * 1000))
        except NetlinkError as exc:
            if exc.code in (errno.ENOENT, errno.EOPNOTSUPP, errno.EINVAL):
                raise UnsupportedFaultError(
                    "delay and jitter need the netem qdisc (sch_netem), which this kernel does"
                    f" not have (errno {exc.code}). Alternatives: `netlab fault loss` drops a"
                    " share of packets (iptables statistic); `netlab fault bandwidth` limits the"
                    " rate with tbf, which also queues and so adds delay under load; or use a"
                    " kernel with sch_netem (`modprobe sch_netem`)."
                ) from exc
            raise


@_kernel_errors
def link_down(lab: str, endpoint: str) -> None:
    """Set both ends of the veth pair that `endpoint` belongs to down."""
    _link_state(lab, endpoint, "down")


@_kernel_errors
def link_up(lab: str, endpoint: str) -> None:
    _link_state(lab, endpoint, "up")


def _link_state(lab: str, endpoint: str, wanted: str) -> None:
    plan, record = open_lab(lab)
    found = plan.pair_of(endpoint)
    if found is None:
        known = ", ".join(endpoint_labels(plan))
        raise FaultError(f"lab {plan.name!r} has no link end {endpoint!r}; it has: {known}")
    pair, _ = found
    with Rtnl() as rt:
        for end in (pair.a, pair.b):
            rt.set(end.netns, end.ifname, state=wanted)
        if wanted == "up":
            _restore_routes(plan, rt, {pair.a.netns, pair.b.netns})
    down = tuple(e for e in record.faults.down if e != endpoint)
    if wanted == "down":
        down = (*down, endpoint)
    state.save(replace(record, faults=replace(record.faults, down=down)))


def _restore_routes(plan: Plan, rt: Rtnl, netns: set[str | None]) -> None:
    """Re-add the routes of hosts in `netns`: the kernel drops a route when its link goes down."""
    for host in plan.hosts:
        if host.netns in netns:
            for r in host.routes:
                rt.add_route(host.netns, r.dst, r.via, r.dev)


@_kernel_errors
def heal(lab: str) -> None:
    """Undo every fault in force: partitions, loss, bandwidth limits, links set down."""
    plan, record = open_lab(lab)
    with Rtnl() as rt:
        for endpoint, _rate in record.faults.bandwidth:
            iface = _endpoint(plan, endpoint)
            rt.clear_qdisc(iface.netns, iface.ifname)
        touched: set[str | None] = set()
        for endpoint in record.faults.down:
            found = plan.pair_of(endpoint)
            if found is not None:
                for end in (found[0].a, found[0].b):
                    rt.set(end.netns, end.ifname, state="up")
                    touched.add(end.netns)
        _restore_routes(plan, rt, touched)
    _commit(plan, record, state.Faults())
