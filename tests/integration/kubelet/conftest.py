from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.kubelet.harness import KubeletHarness
from tests.support.netns import NetnsFactory


@pytest.fixture
def kubelet(netns: NetnsFactory, tmp_path: Path) -> Iterator[KubeletHarness]:
    """A kubelet in standalone mode inside a fresh node namespace; always cleaned up."""
    node_ns = netns("node")
    harness = KubeletHarness(netns.tag, node_ns, tmp_path)
    harness.start()
    try:
        yield harness
    finally:
        harness.close()
        left = harness.leftovers()
        assert not left, f"kubelet cleanup left {left}"
