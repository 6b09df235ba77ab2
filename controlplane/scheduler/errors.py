"""Errors of the scheduler package.

    SchedulerError                 base; `retryable` says whether trying again can help
    ├── InvalidPodError            a pod field the scheduler cannot read (bad quantity, bad term)
    ├── BindError                  the binding was refused (conflict, pod gone, transport)
    ├── FlagError                  a command-line flag with a bad value (names flag and value)
    └── ClientUnavailableError     no API client to run against (the process cannot start)

"Does not fit" is never an exception: plugins return a `Status` with a code.
"""

from __future__ import annotations


class SchedulerError(Exception):
    retryable: bool = False


class InvalidPodError(SchedulerError):
    """A pod whose spec cannot be read; carries the field path and the offending value."""

    def __init__(self, pod: str, field: str, value: object, detail: str) -> None:
        self.pod = pod
        self.field = field
        self.value = value
        super().__init__(f"pod {pod}: {field}={value!r}: {detail}")


class BindError(SchedulerError):
    """The apiserver (or a fake of it) refused a binding."""

    retryable = True

    def __init__(self, pod: str, node: str, detail: str, *, retryable: bool = True) -> None:
        self.pod = pod
        self.node = node
        self.retryable = retryable
        super().__init__(detail)


class FlagError(SchedulerError):
    """A flag value that is not accepted; the message names the flag, the value and the rule."""

    def __init__(self, flag: str, value: object, expected: str) -> None:
        self.flag = flag
        self.value = value
        # Without a flag (argparse's usage errors) the message stands alone.
        super().__init__(
            f"invalid value {value!r} for flag {flag}: {expected}" if flag else expected
        )


class ClientUnavailableError(SchedulerError):
    """There is no client library to reach an apiserver with."""
