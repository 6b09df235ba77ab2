"""The kubelet's HTTP server (port 10250): container logs and exec, as the apiserver will proxy.

Paths follow the upstream kubelet's:

    GET  /healthz
    GET  /pods                                          PodList of the pods this node runs
    GET  /containerLogs/{namespace}/{pod}/{container}   ?follow=true&tailLines=N&previous=true
                                                        &limitBytes=N&timestamps=true
                                                        &sinceSeconds=N&sinceTime=RFC3339
    POST /exec/{namespace}/{pod}/{container}?command=ls&command=-l    body: stdin

Exec is non-interactive (no TTY, no streaming stdin): the reply body is the command's output,
the `X-Exit-Code` header its exit code. Every request but /healthz must be authenticated, as
upstream's: a client certificate signed by the CA of `--client-ca-file` (the apiserver's
kubelet client certificate), or `Authorization: Bearer <token>` with the token from
`--authentication-token-file`; anything else is 401. It serves
HTTPS (`--tls-cert-file`/`--tls-private-key-file`, or a self-signed pair made once under
`<root-dir>/pki/`, as upstream). It reads state through `NodeView` and never decides
anything about pods.
"""

from __future__ import annotations

import hmac
import json
import logging
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlparse

from kubelab.api import remotecommand as rc
from node_agent.kubelet import logs, streaming
from node_agent.kubelet.kubelet import Kubelet
from node_agent.kubelet.runtime import ExecResult, ProcessRuntime
from node_agent.kubelet.spec import PodSpec
from node_agent.kubelet.state import ObservedPod

log = logging.getLogger(__name__)

Object = dict[str, Any]


class NodeView(Protocol):
    def find_pod(self, namespace: str, name: str) -> PodSpec | None: ...
    def pod_list(self) -> list[Object]: ...
    def observe(self, pod: PodSpec) -> ObservedPod: ...
    def log_path(self, pod: PodSpec, container: str, attempt: int) -> Path: ...
    def exec(
        self, pod: PodSpec, name: str, argv: list[str], timeout: float, stdin: bytes = b""
    ) -> ExecResult: ...
    def exec_command(
        self, pod: PodSpec, name: str, argv: list[str]
    ) -> tuple[list[str], dict[str, str]] | ExecResult: ...


class _Handler(BaseHTTPRequestHandler):
    server_version = "kubelab-kubelet"
    view: NodeView
    token: str

    def log_message(self, format: str, *args: object) -> None:
        log.debug("http %s", format % args)

    def _reply(self, code: int, body: bytes | str, ctype: str = "text/plain") -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self) -> bool:
        """A client certificate the TLS layer verified against `--client-ca-file`, or the bearer
        token of `--authentication-token-file`; anyone else is anonymous (401)."""
        conn = self.connection
        if isinstance(conn, ssl.SSLSocket) and conn.getpeercert():
            return True  # only a certificate that passed verification is returned
        got = self.headers.get("Authorization", "")
        return bool(self.token) and hmac.compare_digest(got, f"Bearer {self.token}")

    def _target(self, parts: list[str]) -> tuple[PodSpec, str] | None:
        if len(parts) != 4:
            self._reply(404, "expected /<verb>/<namespace>/<pod>/<container>")
            return None
        pod = self.view.find_pod(parts[1], parts[2])
        if pod is None or pod.container(parts[3]) is None:
            self._reply(404, f"pod {parts[1]}/{parts[2]} container {parts[3]} not found")
            return None
        return pod, parts[3]

    def do_GET(self) -> None:
        url = urlparse(self.path)
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        if url.path == "/healthz":
            self._reply(200, "ok")
            return
        if not self._authorized():
            self._reply(401, "Unauthorized")
            return
        if url.path == "/pods":
            body = {"kind": "PodList", "apiVersion": "v1", "items": self.view.pod_list()}
            self._reply(200, json.dumps(body), "application/json")
        elif parts[0] == "exec":
            self._exec_stream(parts)
        elif parts[0] == "containerLogs":
            target = self._target(parts)
            if target is not None:
                self._logs(*target, parse_qs(url.query))
        else:
            self._reply(404, "not found")

    def do_POST(self) -> None:
        url = urlparse(self.path)
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        if not self._authorized():
            self._reply(401, "Unauthorized")
            return
        if parts[0] != "exec":
            self._reply(404, "not found")
            return
        if self.headers.get("Upgrade", "").lower() == "websocket":
            self._exec_stream(parts)
            return
        target = self._target(parts)
        if target is None:
            return
        query = parse_qs(url.query)
        argv = query.get("command", [])
        if not argv:
            self._reply(400, "command: at least one ?command= is required")
            return
        length = int(self.headers.get("Content-Length") or 0)
        stdin = self.rfile.read(length) if length else b""
        timeout = float(query.get("timeout", ["60"])[0])
        result = self.view.exec(target[0], target[1], argv, timeout, stdin)
        self.send_response(200)
        self.send_header("X-Exit-Code", str(result.exit_code))
        data = result.output.encode()
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _exec_stream(self, parts: list[str]) -> None:
        """Exec over the WebSocket remote-command protocol (what the apiserver forwards from
        kubectl exec): stdin, stdout, stderr streamed, a pty for tty=true."""
        target = self._target(parts)
        if target is None:
            return
        query = parse_qs(urlparse(self.path).query)
        argv = query.get("command", [])
        protocol = rc.pick_protocol(self.headers.get("Sec-WebSocket-Protocol", ""))
        key = self.headers.get("Sec-WebSocket-Key", "")
        if not argv:
            self._reply(400, "command: at least one ?command= is required")
            return
        if self.headers.get("Upgrade", "").lower() != "websocket" or not key or not protocol:
            self._reply(
                400,
                "exec streams over a WebSocket (Upgrade: websocket) speaking "
                f"{' or '.join(rc.PROTOCOLS)}",
            )
            return
        prepared = self.view.exec_command(target[0], target[1], argv)
        if isinstance(prepared, ExecResult):
            self._reply(400, prepared.output)
            return

        def flag(name: str, default: str) -> bool:
            return query.get(name, [default])[0] in ("1", "true", "True")

        streams = streaming.Streams(
            stdin=flag("stdin", "false"),
            stdout=flag("stdout", "true"),
            stderr=flag("stderr", "true"),
            tty=flag("tty", "false"),
        )
        self.protocol_version = "HTTP/1.1"
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", rc.accept_key(key))
        self.send_header("Sec-WebSocket-Protocol", protocol)
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        self.connection.settimeout(None)
        ch = rc.Channels(self.rfile, self.wfile, protocol)  # type: ignore[arg-type]
        code = streaming.run_exec(ch, *prepared, streams)
        log.info("exec done pod=%s/%s container=%s code=%d", parts[1], parts[2], parts[3], code)

    def _logs(self, pod: PodSpec, name: str, query: dict[str, list[str]]) -> None:
        observed = self.view.observe(pod)
        run = observed.runs.get(name)
        if run is None:
            self._reply(400, f'container "{name}" in pod "{pod.name}" is waiting to start')
            return
        previous = query.get("previous", ["false"])[0] == "true"
        attempt = run.attempt - 1 if previous else run.attempt
        path = self.view.log_path(pod, name, attempt)
        if attempt < 0 or not path.exists():
            self._reply(400, f'previous terminated container "{name}" not found')
            return
        try:
            tail = int(query.get("tailLines", ["-1"])[0])
            limit = int(query.get("limitBytes", ["-1"])[0])
            since_s = query.get("sinceSeconds", [""])[0]
            since = time.time() - float(since_s) if since_s else None
            if "sinceTime" in query:
                since = logs.to_epoch(query["sinceTime"][0])
        except ValueError:
            self._reply(400, "tailLines, limitBytes and sinceSeconds must be numbers")
            return
        stamps = query.get("timestamps", ["false"])[0] == "true"
        raw = path.read_bytes()
        complete = raw[: raw.rfind(b"\n") + 1]
        data = logs.render(complete, tail=tail, since=since, timestamps=stamps, limit=limit)
        follow = query.get("follow", ["false"])[0] == "true" and not previous
        if not follow:
            self._reply(200, data)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()
        self._follow(pod, name, run.attempt, path, offset=len(complete), stamps=stamps)

    def _follow(
        self, pod: PodSpec, name: str, attempt: int, path: Path, *, offset: int, stamps: bool
    ) -> None:
        """Stream what the container writes until it exits (or the client goes away)."""
        pending = b""
        with path.open("rb") as f:
            f.seek(offset)
            while True:
                pending += f.read(65536)
                cut = pending.rfind(b"\n") + 1
                if cut:
                    try:
                        self.wfile.write(logs.render(pending[:cut], timestamps=stamps))
                        self.wfile.flush()
                    except OSError:
                        return
                    pending = pending[cut:]
                    continue
                run = self.view.observe(pod).runs.get(name)
                if run is None or run.attempt != attempt or not run.running:
                    rest = pending + f.read()
                    if rest:
                        self.wfile.write(logs.render(rest, timestamps=stamps))
                    return
                time.sleep(0.2)


class KubeletServer:
    def __init__(
        self,
        view: NodeView,
        address: str,
        port: int,
        token: str,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        handler = type("Handler", (_Handler,), {"view": view, "token": token})
        self.httpd = ThreadingHTTPServer((address, port), handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            # The handshake happens in the request's own thread, not in the accept loop.
            self.httpd.socket = tls.wrap_socket(
                self.httpd.socket, server_side=True, do_handshake_on_connect=False
            )
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="server", daemon=True)

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def start(self) -> None:
        self.thread.start()
        log.info("kubelet server listening port=%d", self.port)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class KubeletNodeView:
    """`NodeView` over a running `Kubelet` and its `ProcessRuntime`."""

    def __init__(self, kubelet: Kubelet, runtime: ProcessRuntime) -> None:
        self.kubelet = kubelet
        self.runtime = runtime

    def find_pod(self, namespace: str, name: str) -> PodSpec | None:
        for pod in list(self.kubelet.pods.values()):
            if pod.namespace == namespace and pod.name == name:
                return pod
        return None

    def pod_list(self) -> list[Object]:
        return [
            {**pod.raw, "status": self.kubelet.statuses.get(uid, {})}
            for uid, pod in list(self.kubelet.pods.items())
        ]

    def observe(self, pod: PodSpec) -> ObservedPod:
        return self.runtime.observe(pod)

    def log_path(self, pod: PodSpec, container: str, attempt: int) -> Path:
        return self.runtime.log_path(pod, container, attempt)

    def exec(
        self, pod: PodSpec, name: str, argv: list[str], timeout: float, stdin: bytes = b""
    ) -> ExecResult:
        return self.runtime.exec(pod, name, argv, timeout, stdin)

    def exec_command(
        self, pod: PodSpec, name: str, argv: list[str]
    ) -> tuple[list[str], dict[str, str]] | ExecResult:
        return self.runtime.exec_command(pod, name, argv)
