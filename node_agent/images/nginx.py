"""The `nginx` image: a static file server on port 80 with nginx's welcome page.

Serves /usr/share/nginx/html when that directory exists (mount a volume there, as with the real
image), else the built-in welcome page. Exits 0 on SIGTERM or SIGQUIT. Logs requests to stdout.
"""

from __future__ import annotations

import argparse
import functools
import os
import signal
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType

WELCOME = b"""<!DOCTYPE html>
<html>
<head><title>Welcome to nginx!</title></head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and working.</p>
<p><em>Served by kubelab's built-in nginx image.</em></p>
</body>
</html>
"""

HTML_ROOT = "/usr/share/nginx/html"


class Handler(SimpleHTTPRequestHandler):
    server_version = "nginx/kubelab"

    def do_GET(self) -> None:
        if os.path.isdir(HTML_ROOT):
            super().do_GET()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(WELCOME)))
        self.end_headers()
        self.wfile.write(WELCOME)

    def log_message(self, format: str, *args: object) -> None:
        sys.stdout.write(f"{self.client_address[0]} - {format % args}\n")
        sys.stdout.flush()


def _stop(signum: int, frame: FrameType | None) -> None:
    sys.exit(0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="nginx")
    parser.add_argument("--port", type=int, default=int(os.environ.get("NGINX_PORT", "80")))
    parser.add_argument("-g", dest="directives", default="")  # accepted, as `nginx -g ...`
    opts = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGQUIT, _stop)
    handler = functools.partial(Handler, directory=HTML_ROOT)
    server = ThreadingHTTPServer(("0.0.0.0", opts.port), handler)  # noqa: S104
    print(f"nginx: listening on port {opts.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
