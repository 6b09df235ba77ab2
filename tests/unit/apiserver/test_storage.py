from __future__ import annotations

import pytest

from controlplane.apiserver.storage import EtcdStore, prefix_end


@pytest.mark.parametrize(
    ("prefix", "end"),
    [(b"/registry/pods/", b"/registry/pods0"), (b"a\xff", b"b"), (b"\xff\xff", b"\0")],
)
def test_prefix_end(prefix: bytes, end: bytes) -> None:
    assert prefix_end(prefix) == end


def test_endpoints_are_required_and_normalised() -> None:
    with pytest.raises(ValueError, match="--etcd-servers"):
        EtcdStore([])
    store = EtcdStore(["http://127.0.0.1:2379", "10.0.0.1:2379"])
    assert store.endpoints == ["127.0.0.1:2379", "10.0.0.1:2379"]
