"""Probe bookkeeping for every running container: which probes are due, their states, and
what they mean for the sync decision (verdicts) and for status (started, ready).

The state machines are `probes.ProbeState`; the handlers run in `prober.run_probe`. Runs are
handed to `submit` (the kubelet's worker pool), one at a time per probe, and `changed(uid)` is
called when a result flips so the pod is synced at once rather than at the next relist.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from functools import partial

from node_agent.kubelet.prober import Executor, run_probe
from node_agent.kubelet.probes import ProbeKind, ProbeState, Result
from node_agent.kubelet.spec import ContainerSpec, PodSpec, Probe
from node_agent.kubelet.state import ObservedPod
from node_agent.kubelet.status import ContainerHealth
from node_agent.kubelet.sync import ProbeVerdict

log = logging.getLogger(__name__)

Key = tuple[str, str, ProbeKind]


def _probe_of(c: ContainerSpec, kind: ProbeKind) -> Probe | None:
    if kind is ProbeKind.LIVENESS:
        return c.liveness
    return c.readiness if kind is ProbeKind.READINESS else c.startup


def _has_probes(c: ContainerSpec) -> bool:
    return c.liveness is not None or c.readiness is not None or c.startup is not None


class ProbeManager:
    def __init__(
        self,
        runtime: Executor,
        clock: Callable[[], float],
        submit: Callable[[Callable[[], None]], object],
        changed: Callable[[str], None],
        on_failure: Callable[[PodSpec, str, str, str], None] | None = None,
    ) -> None:
        self.runtime = runtime
        self.clock = clock
        self.submit = submit
        self.changed = changed
        self.on_failure = on_failure
        self.states: dict[Key, ProbeState] = {}
        self.probing: set[Key] = set()
        self._lock = threading.Lock()

    def busy(self) -> bool:
        with self._lock:
            return bool(self.probing)

    def forget(self, uid: str, name: str | None = None) -> None:
        """Drop the states of a container (it restarted) or of a whole pod."""
        with self._lock:
            for key in [k for k in self.states if k[0] == uid and name in (None, k[1])]:
                del self.states[key]

    def _started(self, uid: str, c: ContainerSpec) -> bool:
        startup = self.states.get((uid, c.name, ProbeKind.STARTUP))
        return c.startup is None or (startup is not None and startup.result is Result.SUCCESS)

    def verdicts(self, uid: str) -> dict[str, ProbeVerdict]:
        """Containers whose liveness or startup probe has failed enough to be restarted."""
        out: dict[str, ProbeVerdict] = {}
        with self._lock:
            for (puid, name, kind), state in self.states.items():
                if puid != uid or not state.failed or kind is ProbeKind.READINESS:
                    continue
                old = out.get(name, ProbeVerdict())
                msg = f"{kind.value.capitalize()} probe failed: {state.last_message}"
                if kind is ProbeKind.LIVENESS:
                    out[name] = ProbeVerdict(True, old.startup_failed, msg)
                else:
                    out[name] = ProbeVerdict(old.liveness_failed, True, msg)
        return out

    def health(self, pod: PodSpec, observed: ObservedPod) -> dict[str, ContainerHealth]:
        out = {}
        with self._lock:
            for c in pod.containers:
                run = observed.runs.get(c.name)
                if run is None or not run.running:
                    out[c.name] = ContainerHealth()
                    continue
                started = self._started(pod.uid, c)
                readiness = self.states.get((pod.uid, c.name, ProbeKind.READINESS))
                ready = started and (
                    c.readiness is None
                    or (readiness is not None and readiness.result is Result.SUCCESS)
                )
                out[c.name] = ContainerHealth(ready=ready, started=started)
        return out

    def tick(
        self,
        pods: Mapping[str, PodSpec],
        observed: Mapping[str, ObservedPod],
        ips: Mapping[str, str],
    ) -> None:
        """Start every due probe. Startup probes run until they succeed; liveness and
        readiness only after that."""
        now = self.clock()
        for uid, pod in list(pods.items()):
            obs = observed.get(uid)
            if obs is None:
                continue
            for c in pod.containers:
                if not _has_probes(c):  # most containers: nothing to do on any tick
                    continue
                run = obs.runs.get(c.name)
                if run is None or not run.running:
                    continue
                with self._lock:
                    started_ok = self._started(uid, c)
                for kind in (ProbeKind.STARTUP, ProbeKind.LIVENESS, ProbeKind.READINESS):
                    probe = _probe_of(c, kind)
                    if probe is None or (kind is ProbeKind.STARTUP) == started_ok:
                        continue
                    key = (uid, c.name, kind)
                    with self._lock:
                        state = self.states.get(key)
                        if state is None:
                            state = self.states[key] = ProbeState.initial(
                                probe, kind, run.started_at
                            )
                        if key in self.probing or not state.due(now):
                            continue
                        self.probing.add(key)
                    run_it = partial(
                        self._run, pod, c.name, kind, state.container_started, ips.get(uid, "")
                    )
                    self.submit(run_it)

    def _run(self, pod: PodSpec, name: str, kind: ProbeKind, started: float, ip: str) -> None:
        key = (pod.uid, name, kind)
        try:
            c = pod.container(name)
            probe = _probe_of(c, kind) if c is not None else None
            if c is None or probe is None:
                return
            ok, message = run_probe(probe, pod, c, ip, self.runtime)
            with self._lock:
                state = self.states.get(key)
                if state is None or state.container_started != started:
                    return  # the container restarted meanwhile
                new = self.states[key] = state.record(ok, self.clock(), message)
                changed = new.result is not state.result or (new.failed and not state.failed)
            if not ok and self.on_failure is not None:
                self.on_failure(pod, name, kind.value, message)
            if not ok:
                log.info(
                    "probe failed pod=%s container=%s probe=%s msg=%s",
                    pod.key, name, kind.value, message,
                )  # fmt: skip
            if changed:
                self.changed(pod.uid)
        finally:
            with self._lock:
                self.probing.discard(key)
