"""steps.run: in order, undo in reverse on failure, unexpected errors as one LabError."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kubelab.lab.errors import LabError
from kubelab.lab.plan import Plan, plan
from kubelab.lab.spec import ClusterSpec
from kubelab.lab.steps import Context, WaitNodesReady, run
from kubelab.lab.supervisor_client import SupervisorClient


@dataclass(frozen=True)
class Recording:
    name: str
    log: list[str] = field(default_factory=list)
    fail_with: Exception | None = None

    def execute(self, ctx: Context) -> None:
        self.log.append(f"do {self.name}")
        if self.fail_with is not None:
            raise self.fail_with

    def undo(self, ctx: Context) -> None:
        self.log.append(f"undo {self.name}")


def context(tmp_path: Path) -> Context:
    return Context(
        plan=plan(ClusterSpec(control_planes=3, workers=2), root=tmp_path),
        kubeconfig=tmp_path / "kc",
        supervisor=SupervisorClient(tmp_path / "s", tmp_path / "l"),
        out=lambda line: None,
    )


def test_steps_run_in_order(tmp_path: Path) -> None:
    log: list[str] = []
    run([Recording("a", log), Recording("b", log)], context(tmp_path))
    assert log == ["do a", "do b"]


FAILURES = {
    "lab error passes through": (LabError("no quorum"), "^no quorum$"),
    "unexpected error names the step": (OSError("boom"), r"^c: OSError: boom \(undone\)$"),
}


@pytest.mark.parametrize(("error", "message"), FAILURES.values(), ids=FAILURES.keys())
def test_a_failure_undoes_what_was_done_in_reverse(
    tmp_path: Path, error: Exception, message: str
) -> None:
    log: list[str] = []
    steps = [
        Recording("a", log),
        Recording("b", log),
        Recording("c", log, error),
        Recording("d", log),
    ]
    with pytest.raises(LabError, match=message):
        run(steps, context(tmp_path))
    assert log == ["do a", "do b", "do c", "undo b", "undo a"]


def test_wait_nodes_ready_names_the_missing_nodes(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    ctx.wait_timeout = 0.01
    ctx.nodes_ready = lambda plan: {"cp-1", "cp-2"}
    with pytest.raises(LabError, match=r"^not Ready after 0s: cp-3, node-1, node-2; see "):
        WaitNodesReady().execute(ctx)
    ctx.nodes_ready = lambda plan: {m.name for m in plan.machines}
    WaitNodesReady().execute(ctx)


def test_wait_nodes_ready_reports_an_unreachable_apiserver(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    ctx.wait_timeout = 0.01

    def refused(plan: Plan) -> set[str]:
        raise ConnectionRefusedError("refused")

    ctx.nodes_ready = refused
    with pytest.raises(LabError, match=r"\(apiserver: refused\)"):
        WaitNodesReady().execute(ctx)
