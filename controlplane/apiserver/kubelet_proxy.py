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

import http.client
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from kubelab.api import errors
from kubelab.api.types import Object

DEFAULT_KUBELET_PORT = 10250
EXEC_TIMEOUT = 300.0  # seconds a command run through pods/exec may take
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

    def exec(
        self,
        endpoint: tuple[str, int],
        target: tuple[str, str, str],
        command: list[str],
        stdin: bytes,
    ) -> tuple[int, bytes]:
        """Run a command in (namespace, pod, container) through the kubelet's `POST /exec/...`:
        (exit code, output)."""
        host, port = endpoint
        namespace, pod, container = target
        params = urlencode([("command", c) for c in command] + [("timeout", str(EXEC_TIMEOUT))])
        path = f"/exec/{quote(namespace)}/{quote(pod)}/{quote(container)}?{params}"
        conn = http.client.HTTPSConnection(
            host, port, context=self.ctx, timeout=EXEC_TIMEOUT + self.timeout
        )
        try:
            conn.request("POST", path, body=stdin)
            resp = conn.getresponse()
            body = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            raise errors.ServiceUnavailable(
                f"the kubelet at {host}:{port} is not answering ({exc}); is the node agent up?"
            ) from exc
        finally:
            conn.close()
        if resp.status != 200:
            err = errors.ApiError(f"kubelet: {body.decode(errors='replace').strip()}")
            err.code = resp.status if resp.status >= 400 else 502
            raise err
        try:
            return int(resp.getheader("X-Exit-Code") or "-1"), body
        except ValueError as exc:
            raise errors.ApiError(
                f"kubelet: bad X-Exit-Code {resp.getheader('X-Exit-Code')}"
            ) from exc
