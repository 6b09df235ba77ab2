"""The `agnhost` image: a test server in the manner of Kubernetes' e2e agnhost.

Subcommands:
  netexec [--http-port 8080]   HTTP: /hostname, /echo?msg=, /clientip, /healthz, /fail (make
                               /healthz answer 500 from now on), /recover, /exit?code=N, /shutdown
  serve-hostname [--port 9376] answers every request with the hostname
  liveness                     /healthz is 200 for 10 s, then 500 forever
  pause                        sleep until SIGTERM

Every server exits 0 on SIGTERM (it runs as PID 1 of its PID namespace and so installs a handler).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from urllib.parse import parse_qs, urlparse


class _State:
    failing = False
    started = time.monotonic()
    liveness_mode = False


class NetExecHandler(BaseHTTPRequestHandler):
    server_version = "agnhost/kubelab"

    def _reply(self, code: int, body: str) -> None:
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = parse_qs(url.query)
        path = url.path
        if path == "/hostname":
            self._reply(200, socket.gethostname())
        elif path == "/echo":
            self._reply(200, query.get("msg", [""])[0])
        elif path == "/clientip":
            self._reply(200, f"{self.client_address[0]}:{self.client_address[1]}")
        elif path == "/healthz":
            self._healthz()
        elif path == "/fail":
            _State.failing = True
            self._reply(200, "healthz will fail")
        elif path == "/recover":
            _State.failing = False
            self._reply(200, "healthz will succeed")
        elif path in ("/exit", "/shutdown"):
            code = int(query.get("code", ["0"])[0])
            self._reply(200, f"exiting {code}")
            threading.Timer(0.05, os._exit, args=(code,)).start()
        elif path == "/":
            self._reply(200, f"NOW: {time.strftime('%Y-%m-%d %H:%M:%S')}")
        else:
            self._reply(404, f"404 page not found: {path}")

    def do_POST(self) -> None:
        self.do_GET()

    def _healthz(self) -> None:
        expired = _State.liveness_mode and time.monotonic() - _State.started > 10
        if _State.failing or expired:
            self._reply(500, "error: failing on demand")
        else:
            self._reply(200, "ok")

    def log_message(self, format: str, *args: object) -> None:
        sys.stdout.write(f"{self.client_address[0]} {format % args}\n")
        sys.stdout.flush()


class HostnameHandler(NetExecHandler):
    def do_GET(self) -> None:
        self._reply(200, socket.gethostname())


def _stop(signum: int, frame: FrameType | None) -> None:
    sys.exit(0)


def _serve(port: int, handler: type[BaseHTTPRequestHandler]) -> None:
    server = ThreadingHTTPServer(("0.0.0.0", port), handler)  # noqa: S104
    print(f"agnhost: serving on port {port}", flush=True)
    server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    parser = argparse.ArgumentParser(prog="agnhost")
    sub = parser.add_subparsers(dest="command")
    netexec = sub.add_parser("netexec")
    netexec.add_argument("--http-port", type=int, default=8080)
    netexec.add_argument("--udp-port", type=int, default=-1)
    serve = sub.add_parser("serve-hostname")
    serve.add_argument("--port", type=int, default=9376)
    serve.add_argument("--http", default="true")
    sub.add_parser("liveness")
    sub.add_parser("pause")
    opts = parser.parse_args(argv)
    if opts.command == "netexec":
        _serve(opts.http_port, NetExecHandler)
    elif opts.command == "serve-hostname":
        _serve(opts.port, HostnameHandler)
    elif opts.command == "liveness":
        _State.liveness_mode = True
        _serve(8080, NetExecHandler)
    elif opts.command == "pause":
        while True:
            signal.pause()
    else:
        parser.print_help()
        sys.exit(1)


if __name__ == "__main__":
    main()
