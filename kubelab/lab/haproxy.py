"""The API load balancer of an HA lab: an HAProxy config in front of every apiserver (pure).

With more than one control plane, kubectl and the workers reach the apiservers through one
stable address, the VIP on the host side of the lab LAN, as in kubeadm's HA guide: HAProxy in
TCP mode (TLS passes through to the apiservers), round robin, health checks on each apiserver's
6443 (`GET /healthz` over TLS answered with 200, or 401 when anonymous requests are refused;
or a plain TCP connect), `option redispatch` so a connection
that hits a dead backend before the checks notice is retried on another. `render` only renders;
the supervisor runs `haproxy -db -f <lab>/haproxy.cfg` on the host like any other process.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from kubelab.lab.plan import API_PORT, Plan


class HealthCheck(enum.Enum):
    HTTPS_HEALTHZ = "https-healthz"  # what the lab uses: the apiserver answers /healthz
    TCP = "tcp"  # a connect is enough (tests, or backends without /healthz)


@dataclass(frozen=True)
class Backend:
    name: str
    address: str
    port: int = API_PORT


@dataclass(frozen=True)
class LoadBalancer:
    name: str
    bind_address: str
    backends: tuple[Backend, ...]
    bind_port: int = API_PORT
    check: HealthCheck = HealthCheck.HTTPS_HEALTHZ
    inter_ms: int = 2000
    fall: int = 3
    rise: int = 2


def for_plan(plan: Plan) -> LoadBalancer:
    """The lab's load balancer: the VIP in front of every control plane's apiserver."""
    if plan.vip is None:
        raise ValueError(f"lab {plan.spec.name} has one control plane and no VIP")
    fast = plan.spec.fast
    return LoadBalancer(
        name=plan.spec.name,
        bind_address=str(plan.vip),
        backends=tuple(Backend(m.name, str(m.ip)) for m in plan.control_planes),
        inter_ms=500 if fast else 2000,
        fall=2 if fast else 3,
        rise=1 if fast else 2,
    )


def render(lb: LoadBalancer) -> str:
    check_lines: list[str] = []
    server_opts = "check"
    if lb.check is HealthCheck.HTTPS_HEALTHZ:
        check_lines = [
            "    option httpchk",
            "    http-check connect ssl",
            "    http-check send meth GET uri /healthz",
            # 200, or 401 from an apiserver that does not serve /healthz anonymously: either
            # way it completed a TLS handshake and answered HTTP, which a dead one cannot.
            "    http-check expect rstatus ^(200|401)$",
        ]
        server_opts = "check check-ssl verify none"
    lines = [
        f"# kubelab lab {lb.name}: the Kubernetes API at {lb.bind_address}:{lb.bind_port},",
        "# balanced over every control plane's apiserver. Generated; edits are overwritten.",
        "global",
        "    log stdout format raw local0",
        "    maxconn 4096",
        "",
        "defaults",
        "    mode tcp",
        "    log global",
        "    option tcplog",
        "    option dontlognull",
        "    option redispatch",
        "    retries 3",
        "    timeout connect 2s",
        # Watches are long-lived connections: do not cut them.
        "    timeout client 1h",
        "    timeout server 1h",
        "    timeout check 2s",
        "",
        "frontend apiserver",
        f"    bind {lb.bind_address}:{lb.bind_port}",
        "    default_backend apiservers",
        "",
        "backend apiservers",
        "    balance roundrobin",
        *check_lines,
        f"    default-server inter {lb.inter_ms}ms fall {lb.fall} rise {lb.rise}",
        *(f"    server {b.name} {b.address}:{b.port} {server_opts}" for b in lb.backends),
        "",
    ]
    return "\n".join(lines)
