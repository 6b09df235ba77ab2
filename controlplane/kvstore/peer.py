"""Peer links between replicas: pysyncobj's TCP transport with authenticated, uncompressed frames.

pysyncobj unpickles whatever reaches its peer port, so every frame must prove it comes from a
holder of the cluster secret before it is unpickled. pysyncobj's own answer (`password`) is
Fernet per message (AES plus HMAC plus base64) after zlib, which costs more CPU than the rest
of a small Raft message; the secret needs to authenticate peers, not hide them (the lab's
peer traffic never leaves the machine's namespaces). Here a frame is

    length (4 bytes) | MAC(key, sequence number | payload) (32 bytes) | payload

where MAC is keyed BLAKE2b (a MAC by design, and several times cheaper than HMAC-SHA256 on
small frames), the key derived from the secret,
the payload a plain pickle and the sequence number counting the frames sent on one TCP
connection (starting at 0 on every connection, so a frame replayed, dropped or reordered
within a stream fails the check). pysyncobj's handshake still runs: each side's first frame
is a random 32-byte key that the other side then puts into every message, so a frame recorded
on one connection fails on another. A frame that fails any check closes the connection
before anything of it is unpickled. Without a secret (loopback-only clusters) frames carry no
tag. pysyncobj's admin utility (syncobj_admin) speaks the old framing and is not supported.

Also counts the appends sent to each peer, for the read index (readindex.py). This module and
raft.py are the only ones that import pysyncobj.
"""

from __future__ import annotations

import hashlib
import hmac
import pickle
import struct
from collections import Counter
from typing import Any

from pysyncobj.node import Node, TCPNode
from pysyncobj.tcp_connection import TcpConnection
from pysyncobj.transport import TCPTransport

TAG_BYTES = 32
_LENGTH = struct.Struct("<I")
_SEQ = struct.Struct(">Q")
_KEY_CONTEXT = b"kubelab-kvstore-peer-v1\0"


class Sealer:
    """Tags and checks frames with a key derived from the cluster secret.

    pysyncobj hands its `encryptor` to every connection and does its random-key handshake
    when one is set; `_RaftNode.encryptor` returns a Sealer, whose methods only
    `PeerConnection` calls.
    """

    def __init__(self, secret: bytes) -> None:
        self._key = hashlib.sha256(_KEY_CONTEXT + secret).digest()

    def tag(self, seq: int, payload: bytes | memoryview) -> bytes:
        mac = hashlib.blake2b(_SEQ.pack(seq), key=self._key, digest_size=TAG_BYTES)
        mac.update(payload)
        return mac.digest()

    def check(self, seq: int, tag: bytes, payload: bytes | memoryview) -> bool:
        return hmac.compare_digest(tag, self.tag(seq, payload))


class PeerConnection(TcpConnection):  # type: ignore[misc]
    """pysyncobj's connection with kvstore frames; connections are re-classed on creation
    (`adopt`), since pysyncobj's transport and server construct `TcpConnection` themselves."""

    _sent_frames = 0
    _received_frames = 0

    @classmethod
    def adopt(cls, conn: TcpConnection) -> PeerConnection:
        conn.__class__ = cls
        conn._sent_frames = 0
        conn._received_frames = 0
        return conn  # type: ignore[no-any-return]

    def connect(self, host: Any, port: Any) -> bool:
        self._sent_frames = 0  # a new TCP stream: both directions count from 0 again
        self._received_frames = 0
        return bool(super().connect(host, port))

    def send(self, message: Any) -> None:
        if self.sendRandKey:
            message = (self.sendRandKey, message)
        payload = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
        sealer: Sealer | None = self.encryptor
        if sealer is not None:
            payload = sealer.tag(self._sent_frames, payload) + payload
            self._sent_frames += 1
        self._TcpConnection__writeBuffer += _LENGTH.pack(len(payload)) + payload
        self._TcpConnection__trySendBuffer()

    def _TcpConnection__processParseMessage(self) -> Any:  # noqa: N802 - pysyncobj's hook
        buffer: bytes = getattr(self, "_TcpConnection__readBuffer")  # noqa: B009 - mangled
        if len(buffer) < _LENGTH.size:
            return None
        (size,) = _LENGTH.unpack_from(buffer)
        end = _LENGTH.size + size
        if len(buffer) < end:
            return None
        frame = memoryview(buffer)[_LENGTH.size : end]
        sealer: Sealer | None = self.encryptor
        try:
            if sealer is not None:
                tag, payload = bytes(frame[:TAG_BYTES]), frame[TAG_BYTES:]
                if not sealer.check(self._received_frames, tag, payload):
                    raise ValueError("bad frame tag")
                self._received_frames += 1
            else:
                payload = frame
            # authenticated above (or a loopback-only cluster without a secret)
            message = pickle.loads(payload)  # noqa: S301
            if self.recvRandKey:
                rand_key, message = message
                if rand_key != self.recvRandKey:
                    raise ValueError("frame from another connection")
        except Exception:  # any bad frame: drop the peer, never unpickle more of it
            self.disconnect()
            return None
        self._TcpConnection__readBuffer = buffer[end:]
        return message


class PeerTransport(TCPTransport):  # type: ignore[misc]
    """pysyncobj's TCP transport with `PeerConnection`s, counting the appends sent to each
    peer into the node's `_appends_sent` (for the read index), and syncing the node's journal
    before an acknowledgement of appended entries leaves."""

    def addNode(self, node: Any) -> None:  # noqa: N802 - pysyncobj's name
        super().addNode(node)
        conn = self._connections.get(node)
        if conn is not None and not isinstance(conn, PeerConnection):
            PeerConnection.adopt(conn)

    def _onNewIncomingConnection(self, conn: Any) -> None:  # noqa: N802 - pysyncobj's name
        PeerConnection.adopt(conn)
        super()._onNewIncomingConnection(conn)

    def send(self, node: Any, message: Any) -> Any:
        if isinstance(message, dict) and message.get("type") == "next_node_idx":
            self._syncObj.sync_journal()  # a follower's entries reach the disk before its ack
        if isinstance(message, dict) and message.get("type") == "append_entries":
            appends_sent: Counter[Any] = self._syncObj._appends_sent
            appends_sent[node] += 1
        return super().send(node, message)


class PeerNode(TCPNode):  # type: ignore[misc]
    """pysyncobj's TCP node with its hash computed once: the Raft loop hashes nodes in every
    per-peer dict lookup, and pysyncobj's `__hash__` is a Python call through a property."""

    def __init__(self, address: str, **kwargs: Any) -> None:
        super().__init__(address, **kwargs)
        self._hash = hash(self._id)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return self is other or (isinstance(other, Node) and self._id == other._id)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)
