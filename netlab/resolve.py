"""`resolve(topology) -> Plan`: validate, then make every name and address concrete. Pure."""

from __future__ import annotations

from netlab.errors import Problem, TopologyError
from netlab.model import Host, Topology
from netlab.naming import netns_name
from netlab.plan import HostPlan, Plan, RoutePlan, VxlanPlan, layout
from netlab.validate import validate


def _route(route_to: str, via: str | None, dev: str | None) -> RoutePlan:
    return RoutePlan("0.0.0.0/0" if route_to == "default" else route_to, via, dev)


def resolve(topo: Topology) -> Plan:
    """The concrete plan of a topology. Raises `TopologyError` if it does not validate."""
    problems: list[Problem] = validate(topo)
    if problems:
        raise TopologyError(problems)
    lay = layout(topo)

    def host_plan(h: Host) -> HostPlan:
        routes = tuple(_route(r.to, r.via, r.dev) for r in h.routes)
        return HostPlan(
            h.name, netns_name(topo.prefix, h.name), h.sysctls, routes, h.masquerade, h.forwards
        )

    vxlans = []
    for vx, ifc in zip(topo.vxlans, lay.vxlans, strict=True):
        vxlans.append(VxlanPlan(ifc, vx.vni, vx.remote, vx.local, vx.dev, vx.port))
    return Plan(
        name=topo.name,
        prefix=topo.prefix,
        host_access=topo.host_access,
        hosts=tuple(host_plan(h) for h in topo.hosts),
        bridges=lay.bridges,
        veths=lay.veths,
        vxlans=tuple(vxlans),
    )
