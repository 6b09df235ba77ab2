"""The WebSocket channel protocol of pods/exec: handshake, framing, channels, exit status."""

from __future__ import annotations

import io
import json
import os
import struct

import pytest

from kubelab.api import remotecommand as rc


def masked(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """A client frame (clients always mask)."""
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 1 << 16:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def test_accept_key_is_rfc6455s_example() -> None:
    assert rc.accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_pick_protocol_prefers_v5() -> None:
    offered = "v5.channel.k8s.io, v4.channel.k8s.io, channel.k8s.io"
    assert rc.pick_protocol(offered) == "v5.channel.k8s.io"
    assert rc.pick_protocol("v4.channel.k8s.io,base64.channel.k8s.io") == "v4.channel.k8s.io"
    assert rc.pick_protocol("channel.k8s.io") is None


def test_server_frames_are_unmasked_with_extended_lengths() -> None:
    for size in (0, 125, 126, 65535, 65536):
        frame = rc.encode_frame(rc.OP_BINARY, b"x" * size)
        assert frame[0] == 0x82
        assert not frame[1] & 0x80
        assert frame.endswith(b"x" * size)
        assert len(frame) - size == (2 if size < 126 else 4 if size < 65536 else 10)


def test_channels_read_messages_answer_pings_and_see_close() -> None:
    data = (
        masked(rc.OP_BINARY, b"\x00hello")
        + masked(rc.OP_PING, b"p")
        + masked(rc.OP_BINARY, b"\x04{", fin=False)
        + masked(rc.OP_CONT, b'"Width":80}')
        + masked(rc.OP_BINARY, bytes([rc.CLOSE, rc.STDIN]))
        + masked(rc.OP_CLOSE, b"\x03\xe8")
    )
    out = io.BytesIO()
    ch = rc.Channels(io.BytesIO(data), out, "v5.channel.k8s.io")
    assert ch.receive() == (rc.STDIN, b"hello")
    assert ch.receive() == (rc.RESIZE, b'{"Width":80}')
    assert out.getvalue() == rc.encode_frame(rc.OP_PONG, b"p")
    assert ch.receive() == (rc.CLOSE, bytes([rc.STDIN]))
    assert ch.receive() is None
    ch.send(rc.STDOUT, b"hi")
    assert out.getvalue().endswith(b"\x82\x03\x01hi")


def test_unmasked_client_frames_are_refused() -> None:
    ch = rc.Channels(io.BytesIO(rc.encode_frame(rc.OP_BINARY, b"\x00x")), io.BytesIO(), "v5")
    with pytest.raises(rc.ProtocolError, match="masked"):
        ch.receive()


def test_exit_status_carries_the_code_as_kubectl_reads_it() -> None:
    assert json.loads(rc.exit_status(0))["status"] == "Success"
    failure = json.loads(rc.exit_status(3))
    assert failure["status"] == "Failure"
    assert failure["reason"] == "NonZeroExitCode"
    assert failure["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
