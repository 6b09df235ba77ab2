"""TLS for the kubelet's server: given certificate files, or a self-signed pair, as upstream.

Like the upstream kubelet without `--tls-cert-file`, the kubelet makes a self-signed
certificate for its node name and IPs once, under `<root-dir>/pki/`, and reuses it afterwards.
The certificate is made by a child process (`certgen`), so the long-running kubelet never
loads the cryptography library (about 10 MB of memory).
"""

from __future__ import annotations

import ssl
import subprocess
import sys
from pathlib import Path

from node_agent.kubelet.errors import CommandError


def ensure_self_signed(cert: Path, key: Path, node_name: str, ips: list[str]) -> None:
    if cert.exists() and key.exists():
        return
    argv = [sys.executable, "-m", "node_agent.kubelet.certgen", str(cert), str(key), node_name]
    proc = subprocess.run([*argv, *ips], capture_output=True, text=True)
    if proc.returncode != 0:
        raise CommandError(argv, proc.returncode, proc.stderr)


def server_context(cert: Path, key: Path, client_ca: Path | None = None) -> ssl.SSLContext:
    """The server's TLS; with `client_ca` (`--client-ca-file`), a client certificate signed by
    that CA is asked for and verified (optional: bearer-token clients present none)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    if client_ca is not None:
        ctx.load_verify_locations(cafile=str(client_ca))
        ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx
