"""The HTTPS REST front end: Kubernetes' HTTP API for kubectl and the Python client.

A `ThreadingHTTPServer` over TLS that asks for client certificates (CERT_OPTIONAL, verified
against the cluster CA); a request without one gets 401. Each request is decoded into a call to
`Handlers` and the answer encoded as JSON, as a server-side Table (`as=Table` in Accept), or as a
chunked stream of watch events. Errors become Status objects with their HTTP code.

Must not: implement storage semantics (that is `handlers.py`).
"""

# ruff: noqa: PLR0911, PLR0912, PLR0915, PLR0917  (one flat dispatch per HTTP route reads best)

from __future__ import annotations

import contextlib
import json
import logging
import select
import socket
import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, quote, urlencode, urlsplit

import yaml

from controlplane.apiserver import discovery, kubelet_proxy, protobuf_body
from controlplane.apiserver.certs import UserInfo, user_from_der
from controlplane.apiserver.handlers import DeleteOptions, Handlers, ListOptions, WatchEvent
from kubelab.api import errors
from kubelab.api import remotecommand as wsstream
from kubelab.api.kind import KindInfo
from kubelab.api.patch import APPLY_PATCH
from kubelab.api.tables import table
from kubelab.api.types import Object

log = logging.getLogger(__name__)

TABLE_CT = "application/json;as=Table;v=v1;g=meta.k8s.io"


@dataclass(frozen=True)
class Route:
    info: KindInfo
    namespace: str
    name: str
    subresource: str


def parse_path(handlers: Handlers, path: str) -> Route | None:
    """Map `/api/v1/namespaces/ns/pods/name/status` (and /apis/g/v/...) to a Route."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if rest and rest[0] == "watch":
        rest = rest[1:]
    registry = handlers.registry
    namespace = ""
    if len(rest) >= 3 and rest[0] == "namespaces" and registry.get(group, version, rest[2]):
        namespace, rest = rest[1], rest[2:]
    if not rest:
        return None
    info = registry.get(group, version, rest[0])
    if info is None or len(rest) > 3:
        return None
    name = rest[1] if len(rest) > 1 else ""
    sub = rest[2] if len(rest) > 2 else ""
    return Route(info, namespace, name, sub)


def _accepts_aggregated_discovery(accept: str) -> bool:
    """True when one of the Accept media types is apidiscovery.k8s.io/v2's group list."""
    for media in accept.split(","):
        params = dict(p.strip().split("=", 1) for p in media.split(";")[1:] if "=" in p)
        wanted = {"g": "apidiscovery.k8s.io", "v": "v2", "as": "APIGroupDiscoveryList"}
        if all(params.get(k) == v for k, v in wanted.items()):
            return True
    return False


def _flag(value: str | None) -> bool:
    """A boolean query parameter: Go clients send `true`, the Python client `True`."""
    return (value or "").lower() in ("true", "1")


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        handlers: Handlers,
        *,
        ssl_context: ssl.SSLContext | None,
        require_auth: bool = True,
    ) -> None:
        super().__init__(address, RequestHandler)
        self.handlers = handlers
        self.ssl_context = ssl_context
        self.require_auth = require_auth
        self.stopping = threading.Event()
        self.kubelet_proxy: kubelet_proxy.KubeletProxy | None = None

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        # Responses go out as whole writes; Nagle + the client's delayed ACK would add 40 ms.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.ssl_context is not None:
            sock = self.ssl_context.wrap_socket(
                sock, server_side=True, do_handshake_on_connect=False
            )
        return sock, addr

    def shutdown(self) -> None:
        self.stopping.set()
        super().shutdown()


def server_ssl_context(cert: Path, key: Path, ca: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert), str(key))
    ctx.load_verify_locations(str(ca))
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


class RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 600  # an idle keep-alive connection is closed after this long (watches never read)
    server: ApiServer
    server_version = "kubelab-apiserver"
    sys_version = ""

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(30)
            try:
                self.request.do_handshake()
            except (ssl.SSLError, OSError):
                self.close_connection = True
                raise
            self.request.settimeout(None)
        super().setup()

    def handle(self) -> None:
        with contextlib.suppress(ConnectionError, ssl.SSLError, TimeoutError):
            super().handle()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http %s", format % args)

    # --- plumbing --------------------------------------------------------------------------------

    def _user(self) -> UserInfo | None:
        if not isinstance(self.connection, ssl.SSLSocket):
            return UserInfo("anonymous-insecure", ("system:masters",))
        # One TLS connection carries one client certificate: parse it once per connection.
        if not hasattr(self, "_peer"):
            self._peer = user_from_der(self.connection.getpeercert(binary_form=True))
        return self._peer

    def _send_json(
        self,
        code: int,
        body: Any,
        *,
        content_type: str = "application/json",
        warnings: list[str] | None = None,
    ) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        for w in warnings or []:
            self.send_header("Warning", '299 - "' + w.replace('"', '\\"') + '"')
        # Headers and body in one write (one TLS record, one segment).
        self.send_header("Connection", "close" if self.close_connection else "keep-alive")
        buffer: list[bytes] = self._headers_buffer  # type: ignore[attr-defined]
        buffer.append(b"\r\n" + (data if self.command != "HEAD" else b""))
        self.flush_headers()

    def _send_error(self, err: errors.ApiError) -> None:
        self._send_json(err.code, err.to_status())

    def _content_type(self) -> str:
        return (self.headers.get("Content-Type") or "").split(";")[0].strip()

    def _chunked(self) -> bool:
        return "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()

    def _has_body(self) -> bool:
        return self._chunked() or int(self.headers.get("Content-Length") or 0) > 0

    def _read_raw(self) -> bytes:
        self._body_read = True
        if not self._chunked():
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""
        parts: list[bytes] = []
        while True:
            size_line = self.rfile.readline(1024)
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError as exc:
                raise errors.BadRequest("malformed chunked request body") from exc
            if size == 0:
                while self.rfile.readline(1024).strip():
                    pass  # trailers
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline(8)

    def _body(self) -> Any:
        raw = self._read_raw()
        if not raw:
            raise errors.BadRequest("the request body is empty")
        ctype = (self.headers.get("Content-Type") or "application/json").split(";")[0].strip()
        if ctype == "application/vnd.kubernetes.protobuf":
            return protobuf_body.decode(raw)
        if "protobuf" in ctype or "cbor" in ctype:
            raise errors.UnsupportedMediaType(
                f"the body of the request was in an unknown format - accepted media types "
                f'include: application/json, application/yaml (got "{ctype}")'
            )
        try:
            if ctype.endswith("yaml"):
                return yaml.safe_load(raw)
            return json.loads(raw)
        except (ValueError, yaml.YAMLError) as exc:
            raise errors.BadRequest(f"the request body is not valid JSON: {exc}") from exc

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        self._body_read = False
        try:
            self._handle(url.path, query)
        finally:
            if self._has_body() and not self._body_read:
                self.close_connection = True  # unread body bytes must not become a request

    def _handle(self, path: str, query: dict[str, str]) -> None:
        if self.server.require_auth and self._user() is None:
            self._send_error(errors.Unauthorized("Unauthorized"))
            return
        try:
            self._route(path, query)
        except errors.ApiError as err:
            self._send_error(err)
        except (ConnectionError, BrokenPipeError, ssl.SSLError):
            self.close_connection = True
        except Exception as exc:
            log.exception("internal error path=%s", self.path)
            self._send_error(errors.ApiError(f"internal error: {exc}"))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch  # noqa: N815

    # --- routing ---------------------------------------------------------------------------------

    def _route(self, path: str, query: dict[str, str]) -> None:
        h = self.server.handlers
        accept = self.headers.get("Accept") or ""
        path = path.rstrip("/") or "/"
        if path in ("/healthz", "/livez", "/readyz"):
            data = b"ok"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if path == "/version":
            self._send_json(200, discovery.version_info())
            return
        if path in ("/api", "/apis"):
            if _accepts_aggregated_discovery(accept):
                doc = discovery.aggregated(h.registry, legacy=path == "/api")
                self._send_json(200, doc, content_type=discovery.AGGREGATED)
            elif path == "/api":
                host = self.headers.get("Host") or "127.0.0.1:6443"
                self._send_json(200, discovery.api_versions(host))
            else:
                self._send_json(200, discovery.api_group_list(h.registry))
            return
        if path == "/openapi/v3":
            self._send_json(200, discovery.openapi_v3_root(h.registry))
            return
        if path.startswith("/openapi/v3/"):
            gv = path.removeprefix("/openapi/v3/").split("/")
            group, version = ("", gv[1]) if gv[0] == "api" else (gv[1], gv[2])
            if h.registry.get(group, version, "") is None and not any(
                k.group == group and k.version == version for k in h.registry.kinds
            ):
                raise errors.NotFound(f"the server could not find the requested resource {path}")
            self._send_json(200, discovery.openapi_v3_doc(h.registry, group, version))
            return
        parts = [p for p in path.split("/") if p]
        if parts and parts[0] in ("api", "apis") and len(parts) == (2 if parts[0] == "api" else 3):
            group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
            resources = discovery.api_resource_list(h.registry, group, version)
            if resources is None:
                raise errors.NotFound("the server could not find the requested resource")
            self._send_json(200, resources)
            return
        if parts and parts[0] == "apis" and len(parts) == 2:
            groups = discovery.api_group_list(h.registry)["groups"]
            match = [g for g in groups if g["name"] == parts[1]]
            if not match:
                raise errors.NotFound("the server could not find the requested resource")
            self._send_json(200, {"kind": "APIGroup", "apiVersion": "v1", **match[0]})
            return
        route = parse_path(h, path)
        if route is None:
            raise errors.NotFound("the server could not find the requested resource")
        if "/watch/" in path:
            query["watch"] = "true"
        self._resource(route, query, accept)

    def _resource(self, r: Route, q: dict[str, str], accept: str) -> None:
        h = self.server.handlers
        method = self.command
        info, ns, name, sub = r.info, r.namespace, r.name, r.subresource
        dry_run = q.get("dryRun") == "All"
        if q.get("dryRun") not in (None, "", "All"):
            raise errors.BadRequest(f'invalid dryRun value "{q["dryRun"]}": must be "All"')
        validation = q.get("fieldValidation", "Warn")
        if validation not in ("Strict", "Warn", "Ignore"):
            raise errors.BadRequest(
                f'invalid fieldValidation value "{validation}": expected Strict, Warn or Ignore'
            )
        strict = validation == "Strict"
        quiet = validation == "Ignore"
        if sub == "log" and info.kind == "Pod" and method == "GET":
            self._pod_log(ns, name, q)
            return
        if sub == "exec" and info.kind == "Pod" and method in ("GET", "POST"):
            self._pod_exec(ns, name, q)
            return
        if sub in ("log", "exec", "attach", "portforward", "proxy"):
            raise errors.NotImplementedYet(
                f"{info.resource}/{sub} needs a streaming connection to the kubelet, which this "
                "apiserver does not proxy yet (pods/log and pods/exec are proxied)"
            )
        if sub and sub not in info.subresources:
            raise errors.NotFound(
                f"the server could not find the requested resource ({info.resource}/{sub})"
            )
        if method in ("GET", "HEAD") and not name:
            opts = self._list_options(q)
            if _flag(q.get("watch")):
                self._watch(info, ns, opts, q, accept)
                return
            result = h.list(info, ns, opts)
            if "as=Table" in accept:
                body = table(
                    info,
                    result.items,
                    h.clock(),
                    include_object=q.get("includeObject", "Metadata"),
                    resource_version=result.resource_version,
                    continue_token=result.continue_token,
                )
                self._send_json(200, body, content_type=TABLE_CT)
                return
            list_meta: dict[str, Any] = {"resourceVersion": result.resource_version}
            if result.continue_token:
                list_meta["continue"] = result.continue_token
            self._send_json(
                200,
                {
                    "kind": f"{info.kind}List",
                    "apiVersion": info.api_version,
                    "metadata": list_meta,
                    "items": result.items,
                },
            )
            return
        if method in ("GET", "HEAD"):
            obj = h.get(info, ns, name)
            self._send_obj(200, info, obj, accept, q)
            return
        if method == "POST" and not name:
            obj, warnings = h.create(info, ns, self._body(), dry_run=dry_run, strict=strict)
            self._send_obj(201, info, obj, accept, q, [] if quiet else warnings)
            return
        if method == "POST" and sub == "binding":
            h.bind(ns, name, self._body(), dry_run=dry_run)
            self._send_json(
                201,
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "code": 201,
                },
            )
            return
        if method == "POST" and sub == "eviction":
            h.delete(info, ns, name, DeleteOptions(dry_run=dry_run))
            self._send_json(
                201,
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "code": 201,
                },
            )
            return
        if method == "PUT" and name:
            obj, warnings = h.update(
                info, ns, name, self._body(), subresource=sub, dry_run=dry_run, strict=strict
            )
            self._send_obj(200, info, obj, accept, q, [] if quiet else warnings)
            return
        if method == "PATCH" and name and not sub and self._content_type() == APPLY_PATCH:
            obj, warnings, created = h.apply(
                info, ns, name, self._body(), dry_run=dry_run, strict=strict
            )
            self._send_obj(201 if created else 200, info, obj, accept, q, warnings)
            return
        if method == "PATCH" and name:
            ctype = self.headers.get("Content-Type") or ""
            obj, warnings = h.patch(
                info,
                ns,
                name,
                ctype,
                self._body(),
                subresource=sub,
                dry_run=dry_run,
                strict=strict,
            )
            self._send_obj(200, info, obj, accept, q, [] if quiet else warnings)
            return
        if method == "DELETE" and name:
            obj = h.delete(info, ns, name, self._delete_options(q, dry_run))
            self._send_obj(200, info, obj, accept, q)
            return
        if method == "DELETE":
            delete_opts = self._delete_options(q, dry_run)
            result = h.list(info, ns, self._list_options(q))
            for item in result.items:
                meta = item["metadata"]
                with contextlib.suppress(errors.NotFound):
                    h.delete(info, meta.get("namespace", ""), meta["name"], delete_opts)
            self._send_json(
                200,
                {
                    "kind": f"{info.kind}List",
                    "apiVersion": info.api_version,
                    "metadata": {"resourceVersion": result.resource_version},
                    "items": result.items,
                },
            )
            return
        raise errors.MethodNotAllowed(f"{method} is not supported on {self.path}")

    def _send_obj(
        self,
        code: int,
        info: KindInfo,
        obj: Object,
        accept: str,
        q: dict[str, str],
        warnings: list[str] | None = None,
    ) -> None:
        h = self.server.handlers
        if "as=Table" in accept:
            body = table(info, [obj], h.clock(), include_object=q.get("includeObject", "Metadata"))
            self._send_json(code, body, content_type=TABLE_CT, warnings=warnings)
        else:
            self._send_json(code, obj, warnings=warnings)

    def _list_options(self, q: dict[str, str]) -> ListOptions:
        try:
            limit = int(q.get("limit") or 0)
        except ValueError as exc:
            raise errors.BadRequest(
                f"invalid limit {q.get('limit')!r}: must be an integer"
            ) from exc
        return ListOptions(
            label_selector=q.get("labelSelector", ""),
            field_selector=q.get("fieldSelector", ""),
            limit=limit,
            continue_token=q.get("continue", ""),
            resource_version=q.get("resourceVersion", ""),
            resource_version_match=q.get("resourceVersionMatch", ""),
        )

    def _delete_options(self, q: dict[str, str], dry_run: bool) -> DeleteOptions:
        body: dict[str, Any] = {}
        if self._has_body():
            parsed = self._body()
            body = parsed if isinstance(parsed, dict) else {}
        grace = q.get("gracePeriodSeconds", body.get("gracePeriodSeconds"))
        pre = body.get("preconditions") or {}
        dry = dry_run or body.get("dryRun") == ["All"]
        try:
            grace_val = int(grace) if grace is not None and grace != "" else None
        except ValueError as exc:
            raise errors.BadRequest(f"invalid gracePeriodSeconds {grace!r}") from exc
        return DeleteOptions(
            grace_period_seconds=grace_val,
            propagation_policy=q.get("propagationPolicy") or body.get("propagationPolicy"),
            precondition_uid=pre.get("uid"),
            precondition_resource_version=pre.get("resourceVersion"),
            dry_run=dry,
        )

    # --- pods/log --------------------------------------------------------------------------------

    def _kubelet_target(
        self, ns: str, name: str, q: dict[str, str]
    ) -> tuple[kubelet_proxy.KubeletProxy, tuple[str, int], str]:
        """The kubelet client, the kubelet's (host, port) and the container a pod's request
        goes to."""
        h = self.server.handlers
        pods, nodes = h.registry.by_resource("pods"), h.registry.by_resource("nodes")
        assert pods is not None
        assert nodes is not None
        proxy = self.server.kubelet_proxy
        if proxy is None:
            raise errors.ServiceUnavailable("this apiserver has no kubelet client certificate")
        pod = h.get(pods, ns, name)
        container = kubelet_proxy.pick_container(pod, q.get("container", ""))
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name:
            raise errors.BadRequest(f"pod {name} does not have a host assigned")
        endpoint = kubelet_proxy.kubelet_endpoint(h.get(nodes, "", node_name))
        if endpoint is None:
            raise errors.ServiceUnavailable(f"node {node_name} has no address for its kubelet")
        return proxy, endpoint, container

    def _pod_log(self, ns: str, name: str, q: dict[str, str]) -> None:
        proxy, endpoint, container = self._kubelet_target(ns, name, q)
        conn, resp = proxy.open(*endpoint, kubelet_proxy.log_path(ns, name, container, q))
        try:
            if resp.status != 200:
                text = resp.read().decode(errors="replace").strip()
                err = errors.ApiError(f"kubelet: {text or resp.reason}")
                err.code = resp.status if resp.status >= 400 else 502
                raise err
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            while not self._client_gone():
                chunk = resp.read1(65536)
                if not chunk:
                    break
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        finally:
            conn.close()

    # --- pods/exec -------------------------------------------------------------------------------

    def _pod_exec(self, ns: str, name: str, q: dict[str, str]) -> None:
        """kubectl exec over the WebSocket channel protocol (v5/v4.channel.k8s.io).

        As kube-apiserver does, the upgrade is forwarded to the kubelet of the pod's node (which
        runs the command and speaks the protocol) and the two connections are spliced."""
        commands = parse_qs(urlsplit(self.path).query).get("command", [])
        if not commands:
            raise errors.BadRequest("command: at least one ?command= is required")
        upgrade = self.headers.get("Upgrade", "").lower()
        protocol = wsstream.pick_protocol(self.headers.get("Sec-WebSocket-Protocol", ""))
        key = self.headers.get("Sec-WebSocket-Key", "")
        if upgrade != "websocket" or not key:
            raise errors.BadRequest(
                "pods/exec: only the WebSocket remote-command protocol is served "
                "(Upgrade: websocket, v5.channel.k8s.io or v4.channel.k8s.io), not SPDY"
            )
        if protocol is None:
            raise errors.BadRequest(
                "pods/exec: Sec-WebSocket-Protocol must offer v5.channel.k8s.io or "
                "v4.channel.k8s.io"
            )
        proxy, endpoint, container = self._kubelet_target(ns, name, q)
        params = [
            (k, v)
            for k, v in parse_qsl(urlsplit(self.path).query, keep_blank_values=True)
            if k in ("command", "stdin", "stdout", "stderr", "tty")
        ]
        path = f"/exec/{quote(ns)}/{quote(name)}/{quote(container)}?{urlencode(params)}"
        headers = {
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": key,
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Protocol": protocol,
        }
        sock, status, got, rest = proxy.upgrade(endpoint, path, headers)
        try:
            if status != 101:
                text = rest.decode(errors="replace").strip()
                err = errors.ApiError(f"kubelet: {text or status}")
                err.code = status if status >= 400 else 502
                raise err
            self.send_response(101)
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept", wsstream.accept_key(key))
            self.send_header("Sec-WebSocket-Protocol", got.get("sec-websocket-protocol", protocol))
            self.end_headers()
            self.wfile.flush()
            self.close_connection = True
            if rest:
                self.connection.sendall(rest)
            self.connection.settimeout(None)
            # The client sends nothing before it has the 101, so no bytes wait in rfile.
            kubelet_proxy.splice(self.connection, b"", sock)
        finally:
            sock.close()

    # --- watch -----------------------------------------------------------------------------------

    def _client_gone(self) -> bool:
        if self.server.stopping.is_set():
            return True
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)  # a watching client sends nothing more: readable means EOF

    def _watch(
        self, info: KindInfo, ns: str, opts: ListOptions, q: dict[str, str], accept: str
    ) -> None:
        h = self.server.handlers
        timeout = float(q["timeoutSeconds"]) if q.get("timeoutSeconds") else None
        stream = h.open_watch(
            info,
            ns,
            opts,
            bookmarks=_flag(q.get("allowWatchBookmarks")),
            initial_events_end=_flag(q.get("sendInitialEvents")),
            timeout=timeout,
        )
        events = h.follow(stream, self._client_gone)
        as_table = "as=Table" in accept
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.wfile.flush()
        try:
            for ev in events:
                self._write_event(info, ev, as_table, q)
        except errors.ApiError as err:
            self._write_chunk({"type": "ERROR", "object": err.to_status()})
        except (ConnectionError, ssl.SSLError, OSError):
            self.close_connection = True
            return
        finally:
            events.close()
        try:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (ConnectionError, ssl.SSLError, OSError):
            self.close_connection = True

    def _write_event(
        self, info: KindInfo, ev: WatchEvent, as_table: bool, q: dict[str, str]
    ) -> None:
        if not as_table:
            data = b'{"type":"' + ev.type.encode() + b'","object":' + ev.object_json() + b"}\n"
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
            return
        obj = ev.object
        if ev.type != "BOOKMARK":
            obj = table(
                info,
                [obj],
                self.server.handlers.clock(),
                include_object=q.get("includeObject", "Metadata"),
            )
            obj["metadata"] = {"resourceVersion": ev.object["metadata"].get("resourceVersion", "")}
        self._write_chunk({"type": ev.type, "object": obj})

    def _write_chunk(self, payload: Any) -> None:
        data = json.dumps(payload, separators=(",", ":")).encode() + b"\n"
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()
