"""Pod status as Kubernetes reports it, computed from the spec, the observed runs and probes.

Pure. `pod_status(...)` returns the `status` dict (phase, conditions, podIP(s), startTime,
initContainerStatuses, containerStatuses); `previous` keeps condition transition times stable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from node_agent.kubelet.spec import ContainerSpec, PodSpec, RestartPolicy
from node_agent.kubelet.state import ContainerRun, ObservedPod
from node_agent.kubelet.sync import Plan, Waiting, should_restart

Object = dict[str, Any]


def rejected_status(reason: str, why: str) -> Object:
    """The status of a pod this kubelet will not run (as upstream's admission failures)."""
    return {"phase": "Failed", "reason": reason, "message": f"Pod was rejected: {why}"}


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class ContainerHealth:
    ready: bool = False
    started: bool = False


def _state(run: ContainerRun) -> Object:
    if run.running:
        return {"running": {"startedAt": rfc3339(run.started_at)}}
    term: Object = {
        "exitCode": run.exit_code,
        "reason": run.reason,
        "startedAt": rfc3339(run.started_at),
        "finishedAt": rfc3339(run.finished_at or run.started_at),
        "containerID": run.container_id,
    }
    if run.signal is not None:
        term["signal"] = run.signal
    return {"terminated": term}


def container_status(
    c: ContainerSpec,
    run: ContainerRun | None,
    previous: ContainerRun | None,
    waiting: Waiting | None,
    health: ContainerHealth,
) -> Object:
    out: Object = {
        "name": c.name,
        "image": c.image,
        "imageID": f"kubelab://{c.image}",
        "restartCount": run.attempt if run else 0,
        "ready": bool(run and run.running and health.ready),
        "started": bool(run and run.running and health.started),
    }
    if run is not None:
        out["containerID"] = run.container_id
    last = None
    if waiting is not None:
        out["state"] = {"waiting": {"reason": waiting.reason, **_msg(waiting.message)}}
        last = run
    elif run is not None:
        out["state"] = _state(run)
        last = previous
    else:
        out["state"] = {"waiting": {"reason": "ContainerCreating"}}
    out["lastState"] = _state(last) if last is not None else {}
    return out


def _msg(message: str) -> Object:
    return {"message": message} if message else {}


def _initialized(pod: PodSpec, observed: ObservedPod) -> bool:
    for c in pod.init_containers:
        run = observed.runs.get(c.name)
        if run is None or run.running or run.exit_code != 0:
            return False
    return True


def phase(pod: PodSpec, observed: ObservedPod, plan: Plan) -> str:
    """Pending until initialised and every container has started once; Running while any
    runs or will be restarted; then Succeeded (all exited 0) or Failed."""
    if plan.init_failed:
        return "Failed"
    runs = [observed.runs.get(c.name) for c in pod.containers]
    if not _initialized(pod, observed) or any(r is None for r in runs):
        return "Pending"
    done = [r for r in runs if r is not None and not r.running]
    if len(done) < len(runs) or any(should_restart(pod.restart_policy, r) for r in done):
        return "Running"
    if all(r.exit_code == 0 for r in done):
        return "Succeeded"
    return "Failed" if pod.restart_policy is RestartPolicy.NEVER else "Running"


def _condition(kind: str, ok: bool, now: float, previous: Object, reason: str = "") -> Object:
    status = "True" if ok else "False"
    old = next((c for c in previous.get("conditions", []) if c.get("type") == kind), None)
    since = old["lastTransitionTime"] if old and old.get("status") == status else rfc3339(now)
    cond: Object = {"type": kind, "status": status, "lastTransitionTime": since}
    if reason and not ok:
        cond["reason"] = reason
    return cond


def pod_status(
    pod: PodSpec,
    observed: ObservedPod,
    plan: Plan,
    health: Mapping[str, ContainerHealth],
    *,
    now: float,
    host_ip: str,
    start_time: float,
    previous: Object | None = None,
) -> Object:
    previous = previous or {}
    init_statuses = [
        container_status(
            c,
            observed.runs.get(c.name),
            observed.previous.get(c.name),
            plan.waiting.get(c.name),
            ContainerHealth(ready=_done_ok(observed.runs.get(c.name))),
        )
        for c in pod.init_containers
    ]
    statuses = [
        container_status(
            c,
            observed.runs.get(c.name),
            observed.previous.get(c.name),
            plan.waiting.get(c.name),
            health.get(c.name, ContainerHealth()),
        )
        for c in pod.containers
    ]
    pod_phase = phase(pod, observed, plan)
    initialized = _initialized(pod, observed)
    ready = pod_phase == "Running" and all(s["ready"] for s in statuses)
    not_ready = [s["name"] for s in statuses if not s["ready"]]
    reason = "PodCompleted" if pod_phase in ("Succeeded", "Failed") else "ContainersNotReady"
    conditions = [
        _condition("Initialized", initialized, now, previous, "ContainersNotInitialized"),
        _condition("Ready", ready, now, previous, reason),
        _condition("ContainersReady", ready, now, previous, reason),
        _condition("PodScheduled", True, now, previous),
    ]
    if not ready and pod_phase == "Running":
        for cond in conditions[1:3]:
            cond["message"] = f"containers with unready status: [{' '.join(not_ready)}]"
    status: Object = {
        "phase": pod_phase,
        "conditions": conditions,
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}] if host_ip else [],
        "startTime": rfc3339(start_time),
        "containerStatuses": statuses,
        "qosClass": _qos(pod),
    }
    if init_statuses:
        status["initContainerStatuses"] = init_statuses
    if observed.ip:
        status["podIP"] = observed.ip
        status["podIPs"] = [{"ip": observed.ip}]
    return status


def _done_ok(run: ContainerRun | None) -> bool:
    return bool(run and not run.running and run.exit_code == 0)


def _qos(pod: PodSpec) -> str:
    limited = [c for c in pod.containers if c.memory_limit and c.cpu_limit_milli]
    return "Guaranteed" if len(limited) == len(pod.containers) else "BestEffort"
