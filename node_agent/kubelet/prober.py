"""Runs probe handlers: exec inside the container, HTTP GET and TCP connect to the pod's IP.

The edge of the probe state machines in `probes.py`: returns (ok, message) and never raises.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from typing import Protocol

from node_agent.kubelet.runtime import ExecResult
from node_agent.kubelet.spec import ContainerSpec, ExecAction, HTTPGetAction, PodSpec, Probe


class Executor(Protocol):
    def exec(
        self, pod: PodSpec, name: str, argv: list[str], timeout: float, stdin: bytes = b""
    ) -> ExecResult: ...


def run_probe(
    probe: Probe, pod: PodSpec, c: ContainerSpec, pod_ip: str, runtime: Executor
) -> tuple[bool, str]:
    handler = probe.handler
    if isinstance(handler, ExecAction):
        result = runtime.exec(pod, c.name, list(handler.command), probe.timeout)
        return result.exit_code == 0, result.output.strip()[-200:]
    port = c.port_number(handler.port)
    if port is None:
        return False, f"unknown port {handler.port!r}"
    host = handler.host or pod_ip
    if not host:
        return False, "pod has no IP"
    if isinstance(handler, HTTPGetAction):
        return _http(handler, host, port, probe.timeout)
    try:
        with socket.create_connection((host, port), timeout=probe.timeout):
            return True, ""
    except OSError as exc:
        return False, f"dial tcp {host}:{port}: {exc}"


def _http(handler: HTTPGetAction, host: str, port: int, timeout: float) -> tuple[bool, str]:
    conn: http.client.HTTPConnection
    if handler.scheme == "HTTPS":
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # as the kubelet: probes do not verify certificates
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=ctx)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        headers = {"User-Agent": "kube-probe/kubelab", **dict(handler.headers)}
        conn.request("GET", handler.path, headers=headers)
        resp = conn.getresponse()
        resp.read(1024)
    except (OSError, http.client.HTTPException) as exc:
        return False, f'Get "http://{host}:{port}{handler.path}": {exc}'
    finally:
        conn.close()
    ok = 200 <= resp.status < 400
    return ok, "" if ok else f"HTTP probe failed with statuscode: {resp.status}"
