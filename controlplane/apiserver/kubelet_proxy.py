"""`pods/log`: the apiserver proxies a log request to the kubelet of the pod's node.

Like kube-apiserver, it finds the node's address (InternalIP, else Hostname, else ExternalIP)
and kubelet port (`status.daemonEndpoints.kubeletEndpoint.Port`, default 10250), and GETs
`https://<address>:<port>/containerLogs/<namespace>/<pod>/<container>` with the same query
(`follow`, `tailLines`, `timestamps`, `previous`, `sinceSeconds`, `limitBytes`), presenting its
kubelet client certificate. As kube-apiserver without `--kubelet-certificate-authority`, it does
not verify the kubelet's serving certificate. A node without an address or a kubelet that does
not answer gives 503; a pod without a node 400, as Kubernetes answers.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from kubelab.api import errors
from kubelab.api.types import Object

DEFAULT_KUBELET_PORT = 10250
LOG_PARAMS = ("follow", "tailLines", "timestamps", "previous", "sinceSeconds", "limitBytes")


def kubelet_endpoint(node: Object) -> tuple[str, int] | None:
    status = node.get("status") or {}
    by_type = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    host = by_type.get("InternalIP") or by_type.get("Hostname") or by_type.get("ExternalIP")
    if not host:
        return None
    endpoint = (status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}
    return str(host), int(endpoint.get("Port") or DEFAULT_KUBELET_PORT)


def pick_container(pod: Object, requested: str) -> str:
    name = pod["metadata"]["name"]
    containers = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
    inits = [c.get("name") for c in (pod.get("spec") or {}).get("initContainers") or []]
    if requested:
        if requested not in containers + inits:
            raise errors.BadRequest(f"container {requested} is not valid for pod {name}")
        return requested
    if len(containers) == 1:
        return str(containers[0])
    raise errors.BadRequest(
        f"a container name must be specified for pod {name}, choose one of: "
        f"[{' '.join(str(c) for c in containers)}]"
    )


def log_path(namespace: str, pod: str, container: str, query: dict[str, str]) -> str:
    params = {k: v for k, v in query.items() if k in LOG_PARAMS}
    path = f"/containerLogs/{quote(namespace)}/{quote(pod)}/{quote(container)}"
    return f"{path}?{urlencode(params)}" if params else path


class KubeletProxy:
    def __init__(self, client_cert: Path, client_key: Path, *, timeout: float = 5.0) -> None:
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self.ctx.check_hostname = False
        self.ctx.verify_mode = ssl.CERT_NONE  # as kube-apiserver without a kubelet CA
        self.ctx.load_cert_chain(str(client_cert), str(client_key))
        self.timeout = timeout

    def open(self, host: str, port: int, path: str) -> tuple[http.client.HTTPSConnection, Any]:
        conn = http.client.HTTPSConnection(host, port, context=self.ctx, timeout=self.timeout)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise errors.ServiceUnavailable(
                f"the kubelet at {host}:{port} is not answering ({exc}); is the node agent up?"
            ) from exc
        if conn.sock is not None:
            conn.sock.settimeout(None)  # `follow` streams stay open as long as the client reads
        return conn, resp

    def upgrade(
        self, endpoint: tuple[str, int], path: str, headers: dict[str, str]
    ) -> tuple[ssl.SSLSocket, int, dict[str, str], bytes]:
        """Send an upgrade request (GET `path` with `headers`) to the kubelet; return the socket,
        the answer's status and headers, and any bytes read past them."""
        host, port = endpoint
        try:
            raw = socket.create_connection((host, port), timeout=self.timeout)
            sock = self.ctx.wrap_socket(raw)
            lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}"]
            lines += [f"{k}: {v}" for k, v in headers.items()]
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    raise OSError("the kubelet closed the connection")
                data += chunk
                if len(data) > 1 << 20:
                    raise OSError("the kubelet's answer has no end of headers")
        except OSError as exc:
            raise errors.ServiceUnavailable(
                f"the kubelet at {host}:{port} is not answering ({exc}); is the node agent up?"
            ) from exc
        head, rest = data.split(b"\r\n\r\n", 1)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        parts = status_line.split(" ", 2)
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 502
        got = {}
        for line in header_lines:
            k, _, v = line.partition(":")
            got[k.strip().lower()] = v.strip()
        sock.settimeout(None)
        return sock, status, got, rest


def splice(client: socket.socket, client_buffered: bytes, kubelet: socket.socket) -> None:
    """Copy bytes both ways between an upgraded client connection and the kubelet's until
    either side closes."""

    def copy(src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    if client_buffered:
        kubelet.sendall(client_buffered)
    up = threading.Thread(target=copy, args=(client, kubelet), daemon=True, name="exec-up")
    up.start()
    copy(kubelet, client)
    up.join(timeout=5)
