"""What a user asks for: the ClusterSpec, and its validation (pure).

A spec is built from CLI flags (`spec_from_flags`) and checked as a whole: every problem is
reported at once, each naming the flag, the value and what would be accepted. Nothing here
touches the system; whether a lab of that name already exists is the CLI's question.

The cluster name is the kernel prefix of every object the lab creates (`<name>-...`: netns
`kubelab-cp-1`, bridge `kubelab-lan`, chains `kubelab-*`), the same prefix netlab uses for a lab
(its topology `prefix:`), so `kubelab down` and `netlab clean --prefix <name>` find the same
objects. Hence netlab's prefix rule: 2 to 8 lowercase letters and digits, starting with a letter.
No hyphen: the prefix of lab `a` must not also match lab `a-b`'s objects. Interface names stay
within the kernel's 15 characters (`<name>-n253` is at most 13).
"""

from __future__ import annotations

import enum
import ipaddress
import re
from dataclasses import dataclass
from ipaddress import IPv4Network

from kubelab.lab.errors import Problem, SpecError

IFNAME_MAX = 15
NAME_MIN = 2
NAME_MAX = 8
_NAME_RE = re.compile(r"^[a-z][a-z0-9]*$")

DEFAULT_NAME = "kubelab"
DEFAULT_LAN = IPv4Network("10.250.0.0/24")
DEFAULT_POD_CIDR = IPv4Network("10.244.0.0/16")
DEFAULT_SERVICE_CIDR = IPv4Network("10.96.0.0/12")
NODE_POD_PREFIXLEN = 24


class Store(enum.Enum):
    """Which store the control planes run: kubelab's own kvstore or Debian's etcd."""

    KVSTORE = "kvstore"
    ETCD = "etcd"


@dataclass(frozen=True)
class ClusterSpec:
    name: str = DEFAULT_NAME
    control_planes: int = 1
    workers: int = 0
    store: Store = Store.KVSTORE
    fast: bool = False
    lan: IPv4Network = DEFAULT_LAN
    pod_cidr: IPv4Network = DEFAULT_POD_CIDR
    service_cidr: IPv4Network = DEFAULT_SERVICE_CIDR

    @property
    def machines(self) -> int:
        return self.control_planes + self.workers

    @property
    def needs_vip(self) -> bool:
        """Several control planes sit behind one load-balanced address, as in kubeadm HA."""
        return self.control_planes > 1


def kernel_prefix(name: str) -> str:
    """The prefix of every kernel object (netns, link, bridge, chain, cgroup) of lab `name`."""
    return f"{name}-"


def lan_addresses_needed(control_planes: int, workers: int) -> int:
    """Host + (VIP when HA) + one address per machine."""
    return 1 + (1 if control_planes > 1 else 0) + control_planes + workers


def usable_hosts(net: IPv4Network) -> int:
    return max(net.num_addresses - 2, 0)


def name_problems(name: str) -> list[Problem]:
    if not name:
        return [Problem("--name", "''", "must not be empty")]
    if not NAME_MIN <= len(name) <= NAME_MAX:
        return [
            Problem(
                "--name",
                name,
                f"use {NAME_MIN} to {NAME_MAX} characters (the name prefixes kernel interface "
                f"names, which are limited to {IFNAME_MAX})",
            )
        ]
    if not _NAME_RE.match(name):
        return [
            Problem(
                "--name",
                name,
                "use lowercase letters and digits, starting with a letter (e.g. kubelab, lab2)",
            )
        ]
    return []


def validate(spec: ClusterSpec) -> list[Problem]:
    """Every problem of `spec`, in flag order; empty when the spec can be built."""
    problems = name_problems(spec.name)
    if spec.control_planes < 1:
        problems.append(
            Problem("--control-planes", str(spec.control_planes), "need at least 1 control plane")
        )
    if spec.workers < 0:
        problems.append(Problem("--nodes", str(spec.workers), "must be 0 or more"))
    problems += _network_problems(spec)
    return problems


def _network_problems(spec: ClusterSpec) -> list[Problem]:
    problems: list[Problem] = []
    nets = (
        ("--lan", spec.lan),
        ("--pod-cidr", spec.pod_cidr),
        ("--service-cidr", spec.service_cidr),
    )
    for i, (flag, net) in enumerate(nets):
        for other_flag, other in nets[i + 1 :]:
            if net.overlaps(other):
                problems.append(
                    Problem(flag, str(net), f"overlaps {other_flag}={other}; use disjoint ranges")
                )
    if spec.control_planes < 1 or spec.workers < 0:
        return problems
    need = lan_addresses_needed(spec.control_planes, spec.workers)
    have = usable_hosts(spec.lan)
    if need > have:
        problems.append(
            Problem(
                "--lan",
                str(spec.lan),
                f"has {have} usable addresses but {spec.control_planes} control plane(s) + "
                f"{spec.workers} worker(s) + the host"
                + (" + the API VIP" if spec.needs_vip else "")
                + f" need {need}; use a larger --lan or fewer machines",
            )
        )
    if spec.pod_cidr.prefixlen > NODE_POD_PREFIXLEN:
        problems.append(
            Problem(
                "--pod-cidr",
                str(spec.pod_cidr),
                f"must be /{NODE_POD_PREFIXLEN} or larger (one /{NODE_POD_PREFIXLEN} per node)",
            )
        )
    else:
        subnets = 2 ** (NODE_POD_PREFIXLEN - spec.pod_cidr.prefixlen)
        if spec.machines > subnets:
            problems.append(
                Problem(
                    "--pod-cidr",
                    str(spec.pod_cidr),
                    f"has {subnets} /{NODE_POD_PREFIXLEN} node subnets for {spec.machines} "
                    "nodes; use a larger --pod-cidr or fewer machines",
                )
            )
    return problems


def check(spec: ClusterSpec) -> ClusterSpec:
    """Return `spec` if valid; raise SpecError with every problem otherwise."""
    problems = validate(spec)
    if problems:
        raise SpecError(problems)
    return spec


def _parse_net(flag: str, value: str, problems: list[Problem]) -> IPv4Network | None:
    try:
        return IPv4Network(value, strict=True)
    except ValueError as exc:
        problems.append(Problem(flag, value, f"not an IPv4 network in CIDR form ({exc})"))
        return None


def spec_from_flags(
    *,
    name: str = DEFAULT_NAME,
    control_planes: int = 1,
    nodes: int = 0,
    store: str = Store.KVSTORE.value,
    fast: bool = False,
    lan: str = str(DEFAULT_LAN),
    pod_cidr: str = str(DEFAULT_POD_CIDR),
    service_cidr: str = str(DEFAULT_SERVICE_CIDR),
) -> ClusterSpec:
    """Parse and validate flag values; raise SpecError listing every bad flag."""
    problems: list[Problem] = []
    try:
        store_value = Store(store)
    except ValueError:
        accepted = ", ".join(s.value for s in Store)
        problems.append(Problem("--store", store, f"use one of: {accepted}"))
        store_value = Store.KVSTORE
    nets = [
        _parse_net(flag, value, problems)
        for flag, value in (
            ("--lan", lan),
            ("--pod-cidr", pod_cidr),
            ("--service-cidr", service_cidr),
        )
    ]
    if problems:
        # Report parse problems together with whatever else is wrong.
        partial = ClusterSpec(name=name, control_planes=control_planes, workers=nodes)
        problems = (
            name_problems(name)
            + [p for p in validate(partial) if p.flag in ("--control-planes", "--nodes")]
            + problems
        )
        raise SpecError(problems)
    lan_net, pod_net, svc_net = (n for n in nets if n is not None)
    return check(
        ClusterSpec(
            name=name,
            control_planes=control_planes,
            workers=nodes,
            store=store_value,
            fast=fast,
            lan=lan_net,
            pod_cidr=pod_net,
            service_cidr=svc_net,
        )
    )


def spec_to_dict(spec: ClusterSpec) -> dict[str, object]:
    return {
        "name": spec.name,
        "control_planes": spec.control_planes,
        "workers": spec.workers,
        "store": spec.store.value,
        "fast": spec.fast,
        "lan": str(spec.lan),
        "pod_cidr": str(spec.pod_cidr),
        "service_cidr": str(spec.service_cidr),
    }


def spec_from_dict(data: dict[str, object]) -> ClusterSpec:
    """Load a recorded spec (written by `spec_to_dict`)."""
    return ClusterSpec(
        name=str(data["name"]),
        control_planes=int(str(data["control_planes"])),
        workers=int(str(data["workers"])),
        store=Store(str(data["store"])),
        fast=bool(data["fast"]),
        lan=ipaddress.IPv4Network(str(data["lan"])),
        pod_cidr=ipaddress.IPv4Network(str(data["pod_cidr"])),
        service_cidr=ipaddress.IPv4Network(str(data["service_cidr"])),
    )
