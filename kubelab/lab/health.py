"""What `kubelab status` shows beyond processes: the store's leader, lease holders, nodes.

Edges: the store's own etcd v3 API (Maintenance.Status, Cluster.MemberList over gRPC to each
control plane's client URL on the lab LAN) and the apiserver's REST API with the lab's admin
credentials. Pure: reading a leader out of the members' answers, holders out of a LeaseList,
rows out of a NodeList (Kubernetes' API shapes). Every probe has a short timeout and reports
"unreachable" rather than failing the whole status.
"""

from __future__ import annotations

import base64
import json
import ssl
import tempfile
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from kubelab.gen.etcd import rpc_pb2, rpc_pb2_grpc
from kubelab.lab import kubeconfig

Object = dict[str, Any]
# Control-plane leases kube-system holds, by the component that takes them.
CONTROL_PLANE_LEASES = ("kube-scheduler", "kube-controller-manager")


@dataclass(frozen=True)
class StoreMember:
    machine: str
    endpoint: str
    member_id: int | None = None
    leader_id: int | None = None
    term: int | None = None
    error: str | None = None


def store_members(endpoints: Sequence[tuple[str, str]], timeout: float = 1.0) -> list[StoreMember]:
    """Ask each store (machine, host:port) for its status."""
    out = []
    for machine, endpoint in endpoints:
        try:
            with grpc.insecure_channel(endpoint) as channel:
                status = rpc_pb2_grpc.MaintenanceStub(channel).Status(
                    rpc_pb2.StatusRequest(), timeout=timeout
                )
            out.append(
                StoreMember(
                    machine,
                    endpoint,
                    member_id=status.header.member_id,
                    leader_id=status.leader,
                    term=status.raftTerm,
                )
            )
        except grpc.RpcError as exc:
            code = exc.code() if isinstance(exc, grpc.Call) else None
            out.append(StoreMember(machine, endpoint, error=str(code.name if code else exc)))
    return out


def leader(members: Sequence[StoreMember]) -> tuple[str | None, int | None]:
    """(machine of the leader, term) as the members with the highest term see it."""
    answered = [m for m in members if m.error is None and m.term is not None]
    if not answered:
        return None, None
    term = max(m.term or 0 for m in answered)
    by_id = {m.member_id: m.machine for m in answered}
    for m in answered:
        if m.term == term and m.leader_id:
            return by_id.get(m.leader_id, f"member {m.leader_id:x}"), term
    return None, term


def render_store(members: Sequence[StoreMember]) -> str:
    name, term = leader(members)
    states = ", ".join(f"{m.machine} {'up' if m.error is None else m.error}" for m in members)
    head = f"leader {name} (term {term})" if name else "no leader"
    return f"store: {head}; members: {states}"


# -- apiserver ---------------------------------------------------------------------------------


def lease_holders(leases: Object, names: Sequence[str] = CONTROL_PLANE_LEASES) -> dict[str, str]:
    """Lease name -> holderIdentity ("" when free) for the control-plane leases of a LeaseList."""
    held = {
        item["metadata"]["name"]: item.get("spec", {}).get("holderIdentity") or ""
        for item in leases.get("items", [])
    }
    return {name: held.get(name, "") for name in names}


def node_rows(nodes: Object) -> list[list[str]]:
    """NAME, STATUS, ROLES, INTERNAL-IP as `kubectl get nodes -o wide` shows them."""
    rows = []
    for node in nodes.get("items", []):
        meta, spec, status = node["metadata"], node.get("spec", {}), node.get("status", {})
        conditions = status.get("conditions", [])
        ready: Object = next((c for c in conditions if c.get("type") == "Ready"), {})
        state = {"True": "Ready", "False": "NotReady"}.get(ready.get("status", ""), "Unknown")
        if spec.get("unschedulable"):
            state += ",SchedulingDisabled"
        roles = sorted(
            k.removeprefix("node-role.kubernetes.io/")
            for k in meta.get("labels", {})
            if k.startswith("node-role.kubernetes.io/")
        )
        ip = next(
            (a["address"] for a in status.get("addresses", []) if a.get("type") == "InternalIP"),
            "<none>",
        )
        rows.append([meta["name"], state, ",".join(roles) or "<none>", ip])
    return rows


def ready_nodes(config_path: Path) -> set[str]:
    """Names of the nodes whose Ready condition is True."""
    rows = node_rows(api_get(config_path, "/api/v1/nodes"))
    return {name for name, state, *_ in rows if state.split(",")[0] == "Ready"}


def api_get(config_path: Path, path: str, timeout: float = 2.0) -> Object:
    """GET `path` from the apiserver of kubeconfig `config_path` (its current context)."""
    return api_request(config_path, path, timeout=timeout)


def api_request(
    config_path: Path, path: str, *, method: str = "GET", timeout: float = 2.0
) -> Object:
    """One request to the apiserver of kubeconfig `config_path` (its current context)."""
    cluster, user = kubeconfig.current(kubeconfig.load(config_path))
    server = str(cluster.get("server", ""))
    if not server.startswith("https://"):
        raise ValueError(f"{config_path}: server {server!r} is not an https:// URL")
    ctx = ssl.create_default_context()
    if "certificate-authority-data" in cluster:
        ctx.load_verify_locations(
            cadata=base64.b64decode(cluster["certificate-authority-data"]).decode()
        )
    headers = {"Accept": "application/json"}
    if "token" in user:
        headers["Authorization"] = f"Bearer {user['token']}"
    with tempfile.TemporaryDirectory(prefix="kubelab-") as tmp:
        if "client-certificate-data" in user:
            cert, key = Path(tmp, "c.crt"), Path(tmp, "c.key")
            cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
            key.write_bytes(base64.b64decode(user["client-key-data"]))
            ctx.load_cert_chain(cert, key)
        # https only (checked above), to the lab's own apiserver.
        request = urllib.request.Request(  # noqa: S310
            server.rstrip("/") + path, headers=headers, method=method
        )
        with urllib.request.urlopen(request, timeout=timeout, context=ctx) as response:  # noqa: S310
            data: Object = json.loads(response.read())
    return data
