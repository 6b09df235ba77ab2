"""Uniquely named network namespaces for tests, always deleted afterwards.

Names start with `klt` (kubelab test) plus a per-test random tag, so parallel or crashed runs
never collide and leftovers are easy to recognise. Deleting a namespace also deletes the veth
ends inside it; processes a test started in it are killed first so the namespace can go.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress

TEST_PREFIX = "klt"


def new_tag() -> str:
    return f"{TEST_PREFIX}{secrets.token_hex(3)}"


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc


def list_netns() -> set[str]:
    out = run("ip", "-o", "netns", "list").stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def delete_netns(name: str) -> None:
    pids = run("ip", "netns", "pids", name, check=False).stdout.split()
    for pid in pids:
        with suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)
    run("ip", "netns", "del", name, check=False)


def delete_links(prefix: str) -> None:
    """Delete links in the root namespace whose names start with `prefix`."""
    out = run("ip", "-o", "link", "show").stdout
    for line in out.splitlines():
        name = line.split(":", 2)[1].strip().split("@", 1)[0]
        if name.startswith(prefix):
            run("ip", "link", "del", name, check=False)


class NetnsFactory:
    """Creates namespaces named `<tag>-<suffix>` and remembers them for `cleanup()`."""

    def __init__(self, tag: str | None = None) -> None:
        self.tag = tag or new_tag()
        self.created: list[str] = []

    def __call__(self, suffix: str) -> str:
        name = f"{self.tag}-{suffix}"
        run("ip", "netns", "add", name)
        self.created.append(name)
        run("ip", "-n", name, "link", "set", "lo", "up")
        return name

    def cleanup(self) -> None:
        for name in reversed(self.created):
            delete_netns(name)
        delete_links(self.tag)
        self.created.clear()


@contextmanager
def netns_factory(tag: str | None = None) -> Iterator[NetnsFactory]:
    factory = NetnsFactory(tag)
    try:
        yield factory
    finally:
        factory.cleanup()
