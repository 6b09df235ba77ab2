"""Errors of the embedded lab (`kubelab.lab`).

Hierarchy:

    LabError                      base; `retryable` says whether trying again can help
    ├── SpecError                 bad user input (flags): carries every Problem at once
    ├── PrerequisiteError         a system tool, privilege or component is missing
    ├── LabExistsError            a lab with that name already exists
    ├── LabNotFoundError          no lab with that name
    ├── CommandError              a subprocess failed: argv, exit code, stderr
    ├── SupervisorError           the supervisor daemon cannot be reached or refused a request
    └── KubeconfigError           a kubeconfig file cannot be read or has the wrong shape

Every message is one line a user can act on; the CLI prints it without a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class LabError(Exception):
    """Base of every error the lab raises on purpose."""

    retryable = False


@dataclass(frozen=True)
class Problem:
    """One invalid input: which flag, which value, what would be accepted."""

    flag: str
    value: str
    message: str

    def __str__(self) -> str:
        return f"{self.flag}={self.value!s}: {self.message}"


class SpecError(LabError):
    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


class PrerequisiteError(LabError):
    def __init__(self, what: str, remedy: str) -> None:
        self.what = what
        self.remedy = remedy
        super().__init__(f"{what}: {remedy}")


class LabExistsError(LabError):
    def __init__(self, name: str, evidence: str) -> None:
        self.name = name
        self.evidence = evidence
        super().__init__(
            f"a lab named {name!r} already exists ({evidence}); remove it with "
            f"`kubelab down --name {name}` or choose another --name"
        )


class LabNotFoundError(LabError):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"no lab named {name!r}; create one with `kubelab up --name {name}`")


class CommandError(LabError):
    def __init__(self, argv: Sequence[str], returncode: int, stderr: str) -> None:
        self.argv = tuple(argv)
        self.returncode = returncode
        self.stderr = stderr
        super().__init__(f"`{' '.join(self.argv)}` exited {returncode}: {stderr.strip()}")


class SupervisorError(LabError):
    retryable = True


class KubeconfigError(LabError):
    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"kubeconfig {path}: {reason}")
