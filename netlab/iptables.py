"""The iptables edge: `iptables-save` and one atomic `iptables-restore -w --noflush` per change.

Runs the tools inside a lab namespace with `ip netns exec`, or in the root namespace. Decides
nothing: the rule text comes from `netlab.rules`.
"""

from __future__ import annotations

import logging
import subprocess

from netlab.errors import CommandError

log = logging.getLogger(__name__)


def _argv(netns: str | None, *tool: str) -> list[str]:
    return ["ip", "netns", "exec", netns, *tool] if netns else list(tool)


def _run(argv: list[str], stdin: str = "") -> str:
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise CommandError(argv, proc.returncode, proc.stderr, stdin)
    return proc.stdout


def save(netns: str | None, table: str | None = None) -> str:
    """`iptables-save` output of `netns` (one table, or all)."""
    args = ["iptables-save", "-t", table] if table else ["iptables-save"]
    return _run(_argv(netns, *args))


def restore(netns: str | None, text: str) -> None:
    """Apply `text` atomically, leaving every chain it does not name alone."""
    if not text.strip():
        return
    log.debug("iptables-restore netns=%s lines=%d", netns or "root", text.count("\n"))
    _run(_argv(netns, "iptables-restore", "-w", "--noflush"), text)
