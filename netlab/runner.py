"""Run commands inside a lab host's namespace, as `ip netns exec` does, for programs and tests."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from typing import Any

from netlab import state
from netlab.errors import LabNotFoundError
from netlab.naming import netns_name


def host_netns(lab: str, host: str) -> str:
    record = state.find(lab)
    if record is None:
        raise LabNotFoundError(lab)
    return netns_name(record.prefix, host)


def _argv(lab: str, host: str, argv: Sequence[str]) -> list[str]:
    return ["ip", "netns", "exec", host_netns(lab, host), *argv]


def run(
    lab: str, host: str, argv: Sequence[str], timeout: float = 30.0, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """Run `argv` in `host` of `lab` and wait; output captured as text."""
    return subprocess.run(
        _argv(lab, host, argv), capture_output=True, text=True, timeout=timeout, **kwargs
    )


def popen(lab: str, host: str, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """Start `argv` in `host` of `lab`; the caller owns (and must end) the process."""
    return subprocess.Popen(_argv(lab, host, argv), **kwargs)
