"""kube-scheduler's command line, parsed into a frozen `Options` (pure: no IO).

Flags keep upstream's names and defaults: `--kubeconfig`, `--master`, `--leader-elect`
(default true), `--leader-elect-lease-duration 15s`, `--leader-elect-renew-deadline 10s`,
`--leader-elect-retry-period 2s`, `--leader-elect-resource-namespace kube-system`,
`--leader-elect-resource-name kube-scheduler`; plus `--scheduler-name` (upstream sets it in a
profile of the config file) and kubelab's `--apiserver` (gRPC addresses, comma-separated).
Durations use Go's syntax (`15s`, `1m30s`, `500ms`); booleans accept `--flag`, `--flag=false`.
A bad value raises `FlagError` naming the flag, the value and what is accepted.
"""

from __future__ import annotations

import argparse
import re
import secrets
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from controlplane.scheduler.errors import FlagError
from controlplane.scheduler.pod import DEFAULT_SCHEDULER_NAME
from kubelab.client.leaderelection import (
    DEFAULT_LEASE_DURATION,
    DEFAULT_RENEW_DEADLINE,
    DEFAULT_RETRY_PERIOD,
)

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_TRUE = {"1", "t", "true", "yes"}
_FALSE = {"0", "f", "false", "no"}
DEFAULT_APISERVER = "127.0.0.1:6444"
DEFAULT_NAMESPACE = "kube-system"  # the Lease kube-scheduler elects its leader with
DEFAULT_NAME = "kube-scheduler"
# Bindings posted concurrently while the next pods are scheduled (kubelab's own flag: upstream
# starts one goroutine per binding; Python threads are dearer, so the pool is bounded).
DEFAULT_BIND_WORKERS = 16
MAX_BIND_WORKERS = 256
# client-go refuses renewDeadline <= JitterFactor * retryPeriod.
JITTER_FACTOR = 1.2


def parse_duration(flag: str, text: str) -> float:
    """Go's `time.ParseDuration` for non-negative values, in seconds."""
    pos, total = 0, 0.0
    while pos < len(text):
        match = _DURATION_PART.match(text, pos)
        if match is None:
            break
        total += float(match[1]) * _UNITS[match[2]]
        pos = match.end()
    if not text or pos != len(text):
        raise FlagError(flag, text, "expected a duration such as 15s, 1m30s or 500ms")
    return total


def parse_bool(flag: str, text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise FlagError(flag, text, "expected true or false")


@dataclass(frozen=True)
class Options:
    kubeconfig: str = ""
    master: str = ""
    apiservers: tuple[str, ...] = (DEFAULT_APISERVER,)
    scheduler_name: str = DEFAULT_SCHEDULER_NAME
    leader_elect: bool = True
    lease_duration: float = DEFAULT_LEASE_DURATION
    renew_deadline: float = DEFAULT_RENEW_DEADLINE
    retry_period: float = DEFAULT_RETRY_PERIOD
    lease_namespace: str = DEFAULT_NAMESPACE
    lease_name: str = DEFAULT_NAME
    identity: str = ""
    seed: int = 0
    verbosity: int = 0
    bind_workers: int = DEFAULT_BIND_WORKERS


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise FlagError("", "", message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m controlplane.scheduler",
        description="kubelab's kube-scheduler: binds pending pods to nodes.",
    )
    p.add_argument("--kubeconfig", default="", help="kubeconfig with the apiserver to talk to")
    p.add_argument("--master", default="", help="apiserver address (overrides the kubeconfig)")
    p.add_argument(
        "--apiserver",
        default=DEFAULT_APISERVER,
        help="apiserver gRPC addresses host:port[,host:port...] (default %(default)s)",
    )
    p.add_argument(
        "--scheduler-name",
        default=DEFAULT_SCHEDULER_NAME,
        help="schedule pods whose spec.schedulerName is this (default %(default)s)",
    )
    p.add_argument(
        "--leader-elect",
        nargs="?",
        const="true",
        default="true",
        help="elect a leader through a Lease before scheduling (default true)",
    )
    p.add_argument("--leader-elect-lease-duration", default="15s")
    p.add_argument("--leader-elect-renew-deadline", default="10s")
    p.add_argument("--leader-elect-retry-period", default="2s")
    p.add_argument("--leader-elect-resource-namespace", default=DEFAULT_NAMESPACE)
    p.add_argument("--leader-elect-resource-name", default=DEFAULT_NAME)
    p.add_argument(
        "--identity", default="", help="leader election identity (default: hostname_<random>)"
    )
    p.add_argument("--seed", default="0", help="seed for breaking score ties (default 0)")
    p.add_argument(
        "--bind-workers",
        default=str(DEFAULT_BIND_WORKERS),
        help="bindings posted concurrently while scheduling goes on; 0 binds inline "
        "(default %(default)s)",
    )
    p.add_argument("-v", "--v", dest="verbosity", default="0", help="log verbosity (0-10)")
    return p


def _int(flag: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise FlagError(flag, text, "expected an integer") from None


def _address(flag: str, text: str) -> str:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise FlagError(flag, text, "expected host:port with a port in 1-65535")
    return text


def parse_args(argv: Sequence[str]) -> Options:
    parser = build_parser()
    ns = parser.parse_args(list(argv))
    lease = parse_duration("--leader-elect-lease-duration", ns.leader_elect_lease_duration)
    renew = parse_duration("--leader-elect-renew-deadline", ns.leader_elect_renew_deadline)
    retry = parse_duration("--leader-elect-retry-period", ns.leader_elect_retry_period)
    leader_elect = parse_bool("--leader-elect", ns.leader_elect)
    if leader_elect:
        if lease <= renew:
            raise FlagError(
                "--leader-elect-lease-duration",
                ns.leader_elect_lease_duration,
                f"must be greater than --leader-elect-renew-deadline "
                f"({ns.leader_elect_renew_deadline})",
            )
        if retry <= 0:
            raise FlagError(
                "--leader-elect-retry-period",
                ns.leader_elect_retry_period,
                "must be greater than zero",
            )
        if renew <= JITTER_FACTOR * retry:
            raise FlagError(
                "--leader-elect-renew-deadline",
                ns.leader_elect_renew_deadline,
                f"must be greater than {JITTER_FACTOR} x --leader-elect-retry-period "
                f"({ns.leader_elect_retry_period})",
            )
    if not ns.scheduler_name:
        raise FlagError("--scheduler-name", ns.scheduler_name, "must not be empty")
    apiservers = tuple(
        _address("--apiserver", a.strip()) for a in ns.apiserver.split(",") if a.strip()
    )
    if not apiservers:
        raise FlagError("--apiserver", ns.apiserver, "expected at least one host:port")
    return Options(
        kubeconfig=ns.kubeconfig,
        master=ns.master,
        apiservers=apiservers,
        scheduler_name=ns.scheduler_name,
        leader_elect=leader_elect,
        lease_duration=lease,
        renew_deadline=renew,
        retry_period=retry,
        lease_namespace=ns.leader_elect_resource_namespace,
        lease_name=ns.leader_elect_resource_name,
        identity=ns.identity or f"{socket.gethostname()}_{_token()}",
        seed=_int("--seed", ns.seed),
        verbosity=_int("--v", ns.verbosity),
        bind_workers=_bind_workers(ns.bind_workers),
    )


def _bind_workers(text: str) -> int:
    workers = _int("--bind-workers", text)
    if not 0 <= workers <= MAX_BIND_WORKERS:
        raise FlagError("--bind-workers", text, f"expected an integer from 0 to {MAX_BIND_WORKERS}")
    return workers


def _token() -> str:
    return secrets.token_hex(4)
