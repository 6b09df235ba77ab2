"""The pod sync decision: desired spec + observed runtime state -> the actions to take.

Pure, like Kubernetes' `computePodActions`: it reads a `BackOff` and the probe verdicts but
never changes them; the kubelet carries the plan out through its `Runtime` and records starts
in the back-off. Order inside a plan matters: the sandbox first, then init containers one at a
time in order, then every app container.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from node_agent.kubelet.backoff import BackOff
from node_agent.kubelet.spec import ContainerSpec, PodSpec, RestartPolicy
from node_agent.kubelet.state import ContainerRun, ObservedPod


@dataclass(frozen=True)
class CreateSandbox:
    pass


@dataclass(frozen=True)
class StartContainer:
    name: str
    attempt: int


@dataclass(frozen=True)
class KillContainer:
    name: str
    reason: str
    message: str


@dataclass(frozen=True)
class PullFailed:
    """The image is unknown: record a pull attempt (ErrImagePull) and back off."""

    name: str


Action = CreateSandbox | StartContainer | KillContainer | PullFailed


@dataclass(frozen=True)
class Waiting:
    reason: str
    message: str = ""


@dataclass(frozen=True)
class ProbeVerdict:
    liveness_failed: bool = False
    startup_failed: bool = False
    message: str = ""


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...] = ()
    waiting: Mapping[str, Waiting] = field(default_factory=dict)
    init_failed: bool = False


def backoff_key(uid: str, name: str) -> str:
    return f"{uid}/{name}"


def pull_key(uid: str, name: str) -> str:
    return f"{uid}/{name}/pull"


def should_restart(policy: RestartPolicy, run: ContainerRun) -> bool:
    if policy is RestartPolicy.ALWAYS:
        return True
    if policy is RestartPolicy.ON_FAILURE:
        return run.exit_code != 0
    return False


def _start_or_wait(
    pod: PodSpec,
    c: ContainerSpec,
    run: ContainerRun | None,
    *,
    backoff: BackOff,
    image_known: Callable[[str], bool],
    now: float,
) -> tuple[Action | None, Waiting | None]:
    """Start `c` unless its image is unknown or it is backing off after a crash."""
    if not image_known(c.image):
        key = pull_key(pod.uid, c.name)
        if backoff.remaining(key, backoff.last_update(key), now) > 0:
            msg = f'Back-off pulling image "{c.image}"'
            return None, Waiting("ImagePullBackOff", msg)
        return PullFailed(c.name), Waiting("ErrImagePull", f'image "{c.image}" not found')
    attempt = 0 if run is None else run.attempt + 1
    if run is not None and run.finished_at is not None:
        left = backoff.remaining(backoff_key(pod.uid, c.name), run.finished_at, now)
        if left > 0:
            delay = backoff.delay(backoff_key(pod.uid, c.name))
            msg = (
                f"back-off {delay:g}s restarting failed container={c.name} "
                f"pod={pod.name}_{pod.namespace}({pod.uid})"
            )
            return None, Waiting("CrashLoopBackOff", msg)
    return StartContainer(c.name, attempt), None


@dataclass
class _Builder:
    """Accumulates one plan; `start()` records an action or a waiting reason for a container."""

    pod: PodSpec
    backoff: BackOff
    image_known: Callable[[str], bool]
    now: float
    actions: list[Action] = field(default_factory=list)
    waiting: dict[str, Waiting] = field(default_factory=dict)

    def start(self, c: ContainerSpec, run: ContainerRun | None) -> None:
        action, wait = _start_or_wait(
            self.pod, c, run, backoff=self.backoff, image_known=self.image_known, now=self.now
        )
        if action is not None:
            self.actions.append(action)
        if wait is not None:
            self.waiting[c.name] = wait

    def plan(self, init_failed: bool = False) -> Plan:
        return Plan(tuple(self.actions), dict(self.waiting), init_failed)


def compute_plan(
    pod: PodSpec,
    observed: ObservedPod,
    *,
    now: float,
    backoff: BackOff,
    probes: Mapping[str, ProbeVerdict],
    image_known: Callable[[str], bool],
) -> Plan:
    b = _Builder(pod, backoff, image_known, now)
    runs = _sandbox_step(b, pod, observed, now)
    if runs is None:
        return Plan()  # a finished pod does not get a new sandbox

    # Init containers: one at a time, in order; each must exit 0 before the next starts.
    for c in pod.init_containers:
        run = runs.get(c.name)
        if run is not None and run.running:
            return b.plan()
        if run is not None and run.exit_code == 0:
            continue
        if run is not None and pod.restart_policy is RestartPolicy.NEVER:
            return b.plan(init_failed=True)
        b.start(c, run)
        for app in pod.containers:
            b.waiting.setdefault(app.name, Waiting("PodInitializing"))
        return b.plan()

    for c in pod.containers:
        run = runs.get(c.name)
        if run is not None and run.running:
            verdict = probes.get(c.name, ProbeVerdict())
            if verdict.startup_failed:
                b.actions.append(KillContainer(c.name, "StartupProbe", verdict.message))
            elif verdict.liveness_failed:
                b.actions.append(KillContainer(c.name, "Unhealthy", verdict.message))
        elif run is None or should_restart(pod.restart_policy, run):
            b.start(c, run)
    return b.plan()


def _sandbox_step(
    b: _Builder, pod: PodSpec, observed: ObservedPod, now: float
) -> Mapping[str, ContainerRun] | None:
    """The runs to plan with, after planning a new sandbox if needed; None: leave the pod be."""
    if observed.sandbox_ready:
        return observed.runs
    if pod.restart_policy is not RestartPolicy.ALWAYS and _all_done(pod, observed):
        return None
    # Containers still running in a lost sandbox are killed first; in the new sandbox every
    # container starts again, and attempts keep counting.
    runs = dict(observed.runs)
    for name, r in observed.runs.items():
        if r.running:
            b.actions.append(KillContainer(name, "SandboxChanged", "pod sandbox is gone"))
            runs[name] = replace(r, finished_at=now, exit_code=137)
    b.actions.append(CreateSandbox())
    return runs


def _all_done(pod: PodSpec, observed: ObservedPod) -> bool:
    for c in pod.containers:
        run = observed.runs.get(c.name)
        if run is None or run.running or should_restart(pod.restart_policy, run):
            return False
    return True
