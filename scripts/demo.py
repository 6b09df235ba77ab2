"""`make up`'s second half: start the demo app on a running lab and print what to try.

    python scripts/demo.py [--name kubelab]

Creates the pods of `examples/demo/*.yaml` through kubelab.client with the lab's admin
kubeconfig (`$KUBELAB_ROOT/<name>/kubeconfig`, default root /var/lib/kubelab), waits (bounded)
until they run, and prints their nodes and IPs and the kubectl commands to try. Pods that
already exist are left as they are, so running it twice is harmless.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from kubelab.api.errors import AlreadyExists, ApiError
from kubelab.client import PODS, Client

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "demo"


def load_pods() -> list[dict[str, Any]]:
    pods = []
    for path in sorted(DEMO.glob("*.yaml")):
        pods += [d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") == "Pod"]
    return pods


def grpc_endpoints(lab: Path) -> list[str]:
    """The control planes' gRPC addresses (the API VIP's load balancer carries REST only)."""
    out = []
    for path in sorted(lab.glob("machines/cp-*/kubeconfig")):
        config = yaml.safe_load(path.read_text())
        host = urlsplit(config["clusters"][0]["cluster"]["server"]).hostname
        out.append(f"{host}:6444")
    return out


def wait_running(client: Client, names: list[str], timeout: float) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    seen: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        seen = {n: client.get(PODS, n, namespace="default") for n in names}
        if all(p.get("status", {}).get("phase") == "Running" for p in seen.values()):
            break
        time.sleep(0.5)
    return seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="kubelab")
    parser.add_argument("--wait", type=float, default=60.0)
    args = parser.parse_args()
    root = Path(os.environ.get("KUBELAB_ROOT") or "/var/lib/kubelab")
    kubeconfig = root / args.name / "kubeconfig"
    if not kubeconfig.exists():
        print(f"demo: no lab {args.name!r} ({kubeconfig} is missing); run `kubelab up` first")
        return 1
    client = Client.from_kubeconfig(kubeconfig, endpoints=grpc_endpoints(root / args.name))
    try:
        names = []
        for pod in load_pods():
            names.append(pod["metadata"]["name"])
            with contextlib.suppress(AlreadyExists):
                client.create(PODS, pod, namespace="default")
        pods = wait_running(client, names, args.wait)
    except ApiError as exc:
        print(f"demo: the apiserver refused: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
    print("\ndemo app (examples/demo/):")
    for name, pod in pods.items():
        status = pod.get("status", {})
        print(
            f"  pod {name}: {status.get('phase', '?')} on {pod['spec'].get('nodeName') or '-'}"
            f", IP {status.get('podIP') or '-'}"
        )
    ip = next((p.get("status", {}).get("podIP") for p in pods.values()), None) or "<pod IP>"
    context = f"kubelab-{args.name}"
    print(
        f"""
try (kubectl's current context is {context}):
  kubectl get nodes -o wide
  kubectl get pods -o wide
  kubectl describe pod hello-1      # Scheduled by default-scheduler, Started by the kubelet
  kubectl get events
  kubectl run client --image=python --restart=Never -- python3 -c \\
      "import urllib.request as u; u.urlopen('http://{ip}:8080/hostname', timeout=5)"
  kubectl get pod client            # Completed: pod to pod by IP across the lab's LAN
  kubectl logs hello-1              # through the apiserver to the node's kubelet
  kubectl exec -it hello-1 -- sh    # a shell inside the pod
  kubelab status{"" if args.name == "kubelab" else f" --name {args.name}"}
  make down                         # remove everything"""
    )
    not_running = [n for n, p in pods.items() if p.get("status", {}).get("phase") != "Running"]
    if not_running:
        print(f"demo: not Running after {args.wait:.0f}s: {', '.join(not_running)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
