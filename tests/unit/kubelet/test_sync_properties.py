"""Invariants of the sync decision over arbitrary observed states (hypothesis)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from node_agent.kubelet.backoff import BackOff
from node_agent.kubelet.state import ContainerRun, ObservedPod
from node_agent.kubelet.sync import CreateSandbox, KillContainer, StartContainer, compute_plan
from tests.unit.kubelet.factories import pod

INITS = ("i1", "i2")
APPS = ("a1", "a2")


def runs(name: str) -> st.SearchStrategy[ContainerRun | None]:
    running = st.builds(
        ContainerRun, st.just(name), st.integers(0, 5), st.just("id"), st.floats(0, 100)
    )
    exited = st.builds(
        ContainerRun,
        st.just(name),
        st.integers(0, 5),
        st.just("id"),
        st.floats(0, 100),
        st.floats(100, 200),
        st.sampled_from([0, 1, 137]),
    )
    return st.one_of(st.none(), running, exited)


observed_pods = st.builds(
    lambda ready, rs: ObservedPod(
        "u1", ready, "ip" if ready else None, {r.name: r for r in rs if r is not None}
    ),
    st.booleans(),
    st.tuples(*(runs(n) for n in (*INITS, *APPS))),
)


@given(observed_pods, st.sampled_from(["Always", "OnFailure", "Never"]))
def test_plan_invariants(observed: ObservedPod, policy: str) -> None:
    spec = pod(
        *({"name": n, "image": "busybox"} for n in APPS),
        init=tuple({"name": n, "image": "busybox"} for n in INITS),
        restart=policy,
    )
    plan = compute_plan(
        spec, observed, now=1000.0, backoff=BackOff(), probes={}, image_known=lambda i: True
    )
    starts = [a for a in plan.actions if isinstance(a, StartContainer)]
    if CreateSandbox() in plan.actions:  # only kills of orphaned containers come before it
        before = plan.actions[: plan.actions.index(CreateSandbox())]
        assert all(isinstance(a, KillContainer) for a in before)
    elif observed.sandbox_ready:
        for a in starts:  # never a second copy of a running container
            run = observed.runs.get(a.name)
            assert run is None or not run.running
    for a in starts:  # attempts count on from the last run
        run = observed.runs.get(a.name)
        assert a.attempt == (0 if run is None else run.attempt + 1)
    init_starts = [a for a in starts if a.name in INITS]
    assert len(init_starts) <= 1  # init containers run one at a time
    if any(a.name in APPS for a in starts):  # apps only after every init exited 0
        for name in INITS:
            run = observed.runs.get(name)
            assert run is not None
            assert run.exit_code == 0
        assert not init_starts
