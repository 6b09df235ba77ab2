"""Peer frames: authenticated before unpickling, bound to their stream position and connection."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from pysyncobj.node import TCPNode
from pysyncobj.tcp_connection import TcpConnection

from controlplane.kvstore.peer import TAG_BYTES, PeerConnection, PeerNode, Sealer

SECRET = b"0123456789abcdef-cluster-secret"


class _NoPoller:
    def subscribe(self, *_: Any) -> None: ...

    def unsubscribe(self, *_: Any) -> None: ...


def _conn(sealer: Sealer | None) -> PeerConnection:
    conn = PeerConnection.adopt(TcpConnection(poller=_NoPoller(), timeout=10.0))
    conn.encryptor = sealer
    return conn


def _sent(conn: PeerConnection, message: Any) -> bytes:
    conn.send(message)  # not connected: the frame stays in the write buffer
    frames: bytes = conn._TcpConnection__writeBuffer
    conn._TcpConnection__writeBuffer = b""
    return frames


def _received(conn: PeerConnection, frames: bytes) -> list[Any]:
    conn._TcpConnection__readBuffer = frames
    out = []
    while (message := conn._TcpConnection__processParseMessage()) is not None:
        out.append(message)
    return out


def test_frames_round_trip_in_order() -> None:
    sender, receiver = _conn(Sealer(SECRET)), _conn(Sealer(SECRET))
    frames = b"".join(_sent(sender, m) for m in ({"type": "a", "n": 1}, [1, 2], "three"))
    assert _received(receiver, frames) == [{"type": "a", "n": 1}, [1, 2], "three"]
    assert receiver._TcpConnection__readBuffer == b""


def test_a_partial_frame_waits_for_the_rest() -> None:
    sender, receiver = _conn(Sealer(SECRET)), _conn(Sealer(SECRET))
    frame = _sent(sender, {"type": "append_entries"})
    assert _received(receiver, frame[:-3]) == []
    assert _received(receiver, frame) == [{"type": "append_entries"}]


class _Boom:
    """Unpickling this would raise: proves a rejected frame is never unpickled."""

    def __reduce__(self) -> Any:
        return (pytest.fail, ("an unauthenticated frame was unpickled",))


@pytest.mark.parametrize(
    "forge",
    [
        lambda frame: frame[:-1] + bytes([frame[-1] ^ 1]),  # payload changed
        lambda frame: frame[:4] + bytes(TAG_BYTES) + frame[4 + TAG_BYTES :],  # tag zeroed
    ],
    ids=["payload-changed", "tag-zeroed"],
)
def test_a_tampered_frame_drops_the_connection(forge: Any) -> None:
    sender, receiver = _conn(Sealer(SECRET)), _conn(Sealer(SECRET))
    assert _received(receiver, forge(_sent(sender, "hello"))) == []
    assert receiver._TcpConnection__readBuffer == b""  # disconnected: buffers cleared


def test_a_frame_sealed_with_another_secret_is_never_unpickled() -> None:
    sender, receiver = _conn(Sealer(b"another-secret-of-16+bytes")), _conn(Sealer(SECRET))
    assert _received(receiver, _sent(sender, _Boom())) == []


def test_a_replayed_frame_fails_its_sequence_number() -> None:
    sender, receiver = _conn(Sealer(SECRET)), _conn(Sealer(SECRET))
    first = _sent(sender, "once")
    assert _received(receiver, first) == ["once"]
    assert _received(receiver, first) == []


def test_a_new_connection_counts_from_zero_again() -> None:
    sender = _conn(Sealer(SECRET))
    _sent(sender, "old stream")
    sender.connect(None, 0)  # no host: pysyncobj gives up at once, the counters are reset
    assert _received(_conn(Sealer(SECRET)), _sent(sender, "new stream")) == ["new stream"]


def test_messages_from_another_connection_fail_the_random_key() -> None:
    sender, receiver = _conn(Sealer(SECRET)), _conn(Sealer(SECRET))
    sender.sendRandKey = b"k" * 32  # what the receiver handed out on this connection
    receiver.recvRandKey = b"k" * 32
    assert _received(receiver, _sent(sender, "ok")) == ["ok"]
    sender.sendRandKey = b"x" * 32
    assert _received(receiver, _sent(sender, "elsewhere")) == []


def test_without_a_secret_frames_are_plain_pickles() -> None:
    sender, receiver = _conn(None), _conn(None)
    frame = _sent(sender, {"type": "x"})
    assert pickle.loads(frame[4:]) == {"type": "x"}
    assert _received(receiver, frame) == [{"type": "x"}]


def test_tags_depend_on_key_sequence_and_payload() -> None:
    sealer = Sealer(SECRET)
    tag = sealer.tag(0, b"data")
    assert len(tag) == TAG_BYTES
    assert sealer.check(0, tag, b"data")
    assert not sealer.check(1, tag, b"data")
    assert not sealer.check(0, tag, b"date")
    assert not Sealer(SECRET + b"!").check(0, tag, b"data")


def test_peer_nodes_hash_and_compare_like_pysyncobj_nodes() -> None:
    a, b = PeerNode("127.0.0.1:2380"), TCPNode("127.0.0.1:2380")
    assert a == b
    assert b == a
    assert hash(a) == hash(b)
    assert a != PeerNode("127.0.0.1:2381")
    assert {a: 1}[b] == 1
