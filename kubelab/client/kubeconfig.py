"""Client credentials from a kubeconfig file, for components started with `--kubeconfig`.

    server, creds = load_kubeconfig(Path("/var/lib/kubelab/c1/machines/cp-1/kubeconfig"))
    client = Client([grpc_endpoint(server)], creds)

Reads the current context's cluster (`server`, `certificate-authority[-data]`) and user
(`client-certificate[-data]`, `client-key[-data]`); file references are resolved relative to the
kubeconfig's directory, as kubectl does. The gRPC front end listens on the REST server's host at
port 6444, so `grpc_endpoint()` derives it from the `server` URL. Only reads files; never writes.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from kubelab.client.client import Credentials

DEFAULT_GRPC_PORT = 6444


class KubeconfigError(ValueError):
    """A kubeconfig that cannot be used; the message names the file and the field."""


def _section(config: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    for entry in config.get(kind) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            value = entry.get(kind[:-1]) or {}
            return value if isinstance(value, dict) else {}
    return {}


def _pem(where: Path, entry: dict[str, Any], field: str) -> bytes:
    data = entry.get(f"{field}-data")
    if data:
        return base64.b64decode(str(data))
    ref = entry.get(field)
    if ref:
        path = Path(str(ref))
        return (path if path.is_absolute() else where.parent / path).read_bytes()
    raise KubeconfigError(f"{where}: no {field} or {field}-data in the current context")


def load_kubeconfig(path: Path) -> tuple[str, Credentials]:
    """The current context's server URL and TLS client credentials."""
    try:
        config = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise KubeconfigError(f"{path}: cannot read kubeconfig: {exc}") from exc
    if not isinstance(config, dict):
        raise KubeconfigError(f"{path}: expected a mapping at the top level")
    contexts = [c for c in config.get("contexts") or [] if isinstance(c, dict)]
    current = config.get("current-context") or (contexts[0].get("name") if contexts else "")
    context = _section(config, "contexts", str(current))
    if not context:
        raise KubeconfigError(f"{path}: current-context {current!r} not found")
    cluster = _section(config, "clusters", str(context.get("cluster", "")))
    user = _section(config, "users", str(context.get("user", "")))
    server = str(cluster.get("server") or "")
    if not server:
        raise KubeconfigError(f"{path}: cluster of context {current!r} has no server")
    try:
        creds = Credentials(
            ca_cert=_pem(path, cluster, "certificate-authority"),
            cert=_pem(path, user, "client-certificate"),
            key=_pem(path, user, "client-key"),
            server_name=str(cluster.get("tls-server-name") or ""),
        )
    except (OSError, ValueError) as exc:
        raise KubeconfigError(f"{path}: {exc}") from exc
    return server, creds


def grpc_endpoint(server_url: str, port: int = DEFAULT_GRPC_PORT) -> str:
    """`https://10.250.0.10:6443` -> `10.250.0.10:6444`."""
    host = urlsplit(server_url).hostname
    if not host:
        raise KubeconfigError(f"server {server_url!r} has no host")
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
