from __future__ import annotations

from node_agent.kubelet.probes import ProbeKind, ProbeState, Result
from node_agent.kubelet.spec import ExecAction, Probe

PROBE = Probe(ExecAction(("true",)), initial_delay=5, period=2, failure_threshold=3)


def test_initial_results_follow_kubernetes() -> None:
    assert ProbeState.initial(PROBE, ProbeKind.LIVENESS, 0).result is Result.SUCCESS
    assert ProbeState.initial(PROBE, ProbeKind.READINESS, 0).result is Result.FAILURE
    assert ProbeState.initial(PROBE, ProbeKind.STARTUP, 0).result is Result.FAILURE


def test_schedule_honours_initial_delay_and_period() -> None:
    s = ProbeState.initial(PROBE, ProbeKind.LIVENESS, started=100)
    assert not s.due(104.9)
    assert s.due(105)
    s = s.record(True, now=105)
    assert not s.due(106.9)
    assert s.due(107)


def test_liveness_fails_only_after_failure_threshold_consecutive_failures() -> None:
    s = ProbeState.initial(PROBE, ProbeKind.LIVENESS, 0)
    s = s.record(False, 1).record(False, 2)
    assert s.result is Result.SUCCESS
    assert not s.failed
    s = s.record(True, 3).record(False, 4).record(False, 5)
    assert not s.failed
    s = s.record(False, 6)
    assert s.failed
    assert s.result is Result.FAILURE


def test_readiness_needs_success_threshold_consecutive_successes() -> None:
    probe = Probe(ExecAction(("true",)), success_threshold=2, failure_threshold=1)
    s = ProbeState.initial(probe, ProbeKind.READINESS, 0)
    s = s.record(True, 1)
    assert s.result is Result.FAILURE
    s = s.record(True, 2)
    assert s.result is Result.SUCCESS
    s = s.record(False, 3)
    assert s.result is Result.FAILURE
