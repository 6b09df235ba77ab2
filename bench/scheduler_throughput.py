"""Scheduler throughput: pods bound per second, 1,000 pending pods onto 20 nodes.

This measures the scheduling core only (queue, cache, filter/score framework, assume, bind
bookkeeping, events) against the in-memory cluster: there is no apiserver, no gRPC and no store
in the loop, so real-cluster figures will be lower. Kubernetes' CI threshold for scheduler
throughput is 90 pods/s (measured there with a real apiserver); the ratio against it is printed
for orientation, not as a like-for-like comparison.

The peer measured in the same run is a first-fit profile (NodeResourcesFit only, no scoring),
which shows what scoring costs. Two watch modes: bound pods observed at once ("sync"), or only
after the burst ("held"), where every placement relies on assumed pods.

    .venv/bin/python bench/scheduler_throughput.py [--pods 1000] [--nodes 20] [--repeat 3]
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import time
from typing import Literal

from controlplane.scheduler.framework import Framework
from controlplane.scheduler.inmemory import InMemoryCluster, make_node, make_pod
from controlplane.scheduler.plugins import default_framework
from controlplane.scheduler.plugins.node_resources_fit import NodeResourcesFit
from controlplane.scheduler.scheduler import Outcome, Scheduler

K8S_CI_THRESHOLD = 90.0


def first_fit() -> Framework:
    return Framework([NodeResourcesFit()], rng=random.Random(0))


def run_once(
    pods: int, nodes: int, profile: str, deliver: Literal["sync", "manual"]
) -> tuple[float, int]:
    cluster = InMemoryCluster(deliver=deliver)
    framework = default_framework() if profile == "default" else first_fit()
    scheduler = Scheduler(cluster, cluster, cluster, framework=framework)
    cluster.subscribe(scheduler)
    for i in range(nodes):
        cluster.add_node(make_node(f"node-{i:02d}", cpu="32", memory="128Gi", pods=110))
    for i in range(pods):
        cluster.create_pod(make_pod(f"pod-{i:04d}", cpu="100m", memory="128Mi"))
    cluster.flush()
    start = time.perf_counter()
    attempts = scheduler.run_until_idle()
    elapsed = time.perf_counter() - start
    cluster.flush()
    bound = sum(1 for a in attempts if a.outcome is Outcome.BOUND)
    if bound != pods or len(cluster.bindings) != pods:
        raise SystemExit(f"only {bound} of {pods} pods were bound ({profile}, {deliver})")
    return elapsed, bound


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--nodes", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    logging.disable(logging.INFO)
    print(
        f"scheduler throughput: {args.pods} pending pods, {args.nodes} nodes, "
        f"median of {args.repeat} runs"
    )
    print("measures the scheduling core against an in-memory cluster, WITHOUT the apiserver")
    print(f"{'profile':<22}{'watch':<7}{'seconds':>9}{'pods/s':>10}{'vs 90/s':>9}")
    rates: dict[tuple[str, str], float] = {}
    for profile in ("default", "first-fit"):
        for deliver, label in (("sync", "sync"), ("manual", "held")):
            times = [
                run_once(args.pods, args.nodes, profile, deliver)[0]  # type: ignore[arg-type]
                for _ in range(args.repeat)
            ]
            seconds = statistics.median(times)
            rate = args.pods / seconds
            rates[(profile, label)] = rate
            print(
                f"{profile:<22}{label:<7}{seconds:>9.3f}{rate:>10.0f}"
                f"{rate / K8S_CI_THRESHOLD:>8.1f}x"
            )
    ratio = rates[("default", "sync")] / rates[("first-fit", "sync")]
    print(f"default profile runs at {ratio:.2f}x the speed of first-fit (the cost of scoring)")


if __name__ == "__main__":
    main()
