"""What `kubelab up`/`start` need before they touch anything (pure, with the probes passed in).

Each missing prerequisite is one line that says what to do. Checking them all first is what
keeps a failed `up` from leaving anything half-built.

- root: namespaces, links and iptables need it;
- system tools: ip, iptables, iptables-restore; haproxy with several control planes; etcd with
  `--store etcd` (Debian packages, installed by `make deps`);
- components: every `python -m MODULE` of the plan must be importable as a runnable module, and
  netlab (which builds the machines) must offer its lifecycle API.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kubelab.lab.plan import Plan
from kubelab.lab.spec import Store

TOOL_PACKAGES = {
    "ip": "iproute2",
    "iptables": "iptables",
    "iptables-restore": "iptables",
    "haproxy": "haproxy",
    "etcd": "etcd-server",
}
NETWORK_MODULES = ("netlab.lifecycle", "netlab.loader")


@dataclass(frozen=True)
class Probes:
    """How to look: `which(tool)` -> path or None; `has_module(name)` -> importable."""

    euid: int
    which: Callable[[str], str | None]
    has_module: Callable[[str], bool]


def tools_needed(plan: Plan) -> list[str]:
    tools = ["ip", "iptables", "iptables-restore"]
    if plan.vip is not None:
        tools.append("haproxy")
    if plan.spec.store is Store.ETCD:
        tools.append("etcd")
    return tools


def modules_needed(plan: Plan, *, network: bool = True) -> list[str]:
    """`python -m` modules of every process (each must have a __main__), then netlab's."""
    found: list[str] = []
    for proc in plan.processes():
        argv = list(proc.argv)
        for i, arg in enumerate(argv[:-1]):
            if arg == "-m" and argv[i + 1] not in found:
                found.append(argv[i + 1])
    return found + (list(NETWORK_MODULES) if network else [])


def missing(plan: Plan, probes: Probes, *, network: bool = True) -> list[str]:
    """One line per missing prerequisite; empty when everything is there."""
    problems: list[str] = []
    if probes.euid != 0:
        problems.append("kubelab must run as root (namespaces, links, iptables): use sudo")
    for tool in tools_needed(plan):
        if probes.which(tool) is None:
            pkg = TOOL_PACKAGES[tool]
            problems.append(f"`{tool}` not found: install it with `apt-get install {pkg}`")
    absent = [m for m in modules_needed(plan, network=network) if not probes.has_module(m)]
    if absent:
        problems.append(
            "not built yet in this version: "
            + ", ".join(absent)
            + " (the lab starts these components; see README.md, 'Status')"
        )
    return problems
