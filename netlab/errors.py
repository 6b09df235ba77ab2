"""Every error netlab raises, so callers can catch one base class and still tell causes apart.

Hierarchy:

    NetlabError                 base; `retryable` says whether trying again can help
    ├── TopologyError           a topology file has problems (all of them, with file positions)
    ├── LabNotFoundError        no record and no kernel objects for a lab name or prefix
    ├── ApplyError              a kernel step of `up`/`down`/a fault failed (step, errno, message)
    ├── CommandError            a subprocess (iptables-restore, ...) failed: argv, exit code, stderr
    └── FaultError              a fault request cannot be honoured
        └── UnsupportedFaultError   the kernel lacks what the fault needs (e.g. netem)

This module must not import anything else of netlab, so every module can import it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Pos:
    """A 1-based position in a topology file."""

    line: int
    column: int


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a topology: where, which field, and what would be accepted."""

    field: str
    message: str
    pos: Pos | None = None
    source: str = "<topology>"

    def __str__(self) -> str:
        where = self.source
        if self.pos is not None:
            where = f"{where}:{self.pos.line}:{self.pos.column}"
        return f"{where}: {self.field}: {self.message}"


class NetlabError(Exception):
    """Base class of every netlab error."""

    retryable = False


class TopologyError(NetlabError):
    """A topology has one or more problems; `problems` lists all of them in file order."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(
            sorted(problems, key=lambda p: (p.pos.line, p.pos.column) if p.pos else (0, 0))
        )
        lines = "\n".join(f"  {p}" for p in self.problems)
        count = len(self.problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in topology:\n{lines}")


class LabNotFoundError(NetlabError):
    def __init__(self, lab: str) -> None:
        self.lab = lab
        super().__init__(f"no lab named or prefixed {lab!r} (see `netlab show` for running labs)")


class ApplyError(NetlabError):
    """A kernel step failed. `up` has already undone the steps before it when this is raised."""

    def __init__(self, step: str, errno: int | None, reason: str) -> None:
        self.step = step
        self.errno = errno
        self.reason = reason
        code = f" (errno {errno})" if errno is not None else ""
        super().__init__(f"step {step!r} failed: {reason}{code}")

    @property
    def retryable(self) -> bool:  # type: ignore[override]
        # EBUSY/EAGAIN come from concurrent kernel activity and usually pass.
        return self.errno in (11, 16)


class CommandError(NetlabError):
    def __init__(self, argv: Sequence[str], returncode: int, stderr: str, stdin: str = "") -> None:
        self.argv = tuple(argv)
        self.returncode = returncode
        self.stderr = stderr
        self.stdin = stdin
        super().__init__(f"{' '.join(self.argv)} exited {returncode}: {stderr.strip()}")


class FaultError(NetlabError):
    """A fault names something the lab does not have, or cannot be applied."""


class UnsupportedFaultError(FaultError):
    """The running kernel lacks what a fault needs; the message names the alternatives."""
