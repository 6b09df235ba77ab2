"""A failover by one thread closes the channel other threads still hold a stub of.

Their next call raises grpc's ValueError("Cannot invoke RPC: Channel closed!") (or, for a
stream already open, ends it with CANCELLED); the client must move them to the new channel
instead of letting the error kill an informer's thread. No server is needed: the endpoints
are closed ports on 127.0.0.1 and every call is made on a closed channel or not at all.
"""

from __future__ import annotations

from typing import Any

import pytest

from kubelab.client import Client
from kubelab.gen.api import api_pb2

ENDPOINTS = ["127.0.0.1:9", "127.0.0.1:11"]


def test_a_call_on_a_channel_another_thread_closed_moves_to_the_new_one() -> None:
    client = Client(ENDPOINTS, timeout=1)
    stubs: list[Any] = []

    def call(stub: Any) -> str:
        stubs.append(stub)
        if len(stubs) == 1:
            client._failover(0)  # meanwhile, another thread fails over and closes this channel
            stub.Get(api_pb2.GetRequest(), timeout=1)  # raises ValueError: Channel closed!
        return "ok"

    try:
        assert client._call(call) == "ok"
        assert len(stubs) == 2
        assert stubs[1] is not stubs[0]
        assert client._current == 1  # no second failover: the new endpoint was not tried yet
    finally:
        client.close()


def test_a_closed_channel_without_a_failover_is_still_an_error() -> None:
    client = Client(ENDPOINTS, timeout=1)

    def call(stub: Any) -> str:
        client.close()
        stub.Get(api_pb2.GetRequest(), timeout=1)
        return "unreachable"

    with pytest.raises(ValueError, match=r"(?i)closed channel|channel closed"):
        client._call(call)


def test_opening_a_watch_on_a_channel_another_thread_closed() -> None:
    client = Client(ENDPOINTS, timeout=1)
    stale = client._connect()
    client._failover(stale[1])
    real_connect = client._connect
    handed: list[int] = []

    def racing_connect() -> tuple[Any, int]:
        handed.append(1)
        return stale if len(handed) == 1 else real_connect()

    client._connect = racing_connect  # type: ignore[method-assign]
    try:
        stream, seen = client._open_watch(api_pb2.WatchRequest())
        stream.cancel()
        assert seen == 1
        assert len(handed) == 2
    finally:
        client.close()
