"""Suite-wide fixtures and the prerequisite gate for kernel-touching tests.

Tests marked `netns` need root and working network namespaces. Locally a missing prerequisite
skips them with the reason; under CI (CI=true) it fails them, so nothing that matters is skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.support.netns import NetnsFactory, netns_factory


def _netns_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    if shutil.which("ip") is None:
        return "needs iproute2 (`ip`)"
    probe = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"`ip netns` does not work here: {probe.stderr.strip()}"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _netns_unavailable()
    if reason is None:
        return
    wanted = [item for item in items if "netns" in item.keywords]
    if wanted and os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        raise pytest.UsageError(f"CI must run the {len(wanted)} netns tests, but: {reason}")
    for item in wanted:
        item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def netns() -> Iterator[NetnsFactory]:
    """`netns("a")` creates a uniquely named namespace; all are deleted after the test."""
    with netns_factory() as factory:
        yield factory
