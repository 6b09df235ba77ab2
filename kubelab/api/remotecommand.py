"""The server side of Kubernetes' WebSocket remote-command protocol (pods/exec), as kubectl speaks
it.

RFC 6455: the upgrade handshake (`Sec-WebSocket-Accept`), then frames; a client's frames are
masked, the server's are not. Kubernetes' channel protocols (`v4.channel.k8s.io`,
`v5.channel.k8s.io`) carry one stream per binary message, the first byte naming it: 0 stdin,
1 stdout, 2 stderr, 3 error (a metav1.Status in JSON, the command's outcome), 4 resize;
v5 adds 255, "close this stream" (`[255, 0]`: the client's stdin ended).

Pure but for the file objects it reads and writes (a lock serialises writers).
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import threading
from dataclasses import dataclass
from typing import BinaryIO

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
MAX_MESSAGE = 16 << 20


class ProtocolError(Exception):
    """The peer broke RFC 6455 or the channel protocol."""


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()  # noqa: S324


def pick_protocol(offered: str) -> str | None:
    """The channel protocol to speak, from the client's `Sec-WebSocket-Protocol` list."""
    names = [p.strip() for p in offered.split(",") if p.strip()]
    return next((p for p in PROTOCOLS if p in names), None)


def encode_frame(opcode: int, payload: bytes) -> bytes:
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([n])
    elif n < 1 << 16:
        head += bytes([126]) + struct.pack("!H", n)
    else:
        head += bytes([127]) + struct.pack("!Q", n)
    return head + payload


def _read_exact(f: BinaryIO, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = f.read(n - len(data))
        if not chunk:
            raise EOFError("connection closed mid-frame")
        data += chunk
    return data


@dataclass(frozen=True)
class Frame:
    fin: bool
    opcode: int
    payload: bytes


def read_frame(f: BinaryIO) -> Frame:
    b0, b1 = _read_exact(f, 2)
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", _read_exact(f, 2))
    elif n == 127:
        (n,) = struct.unpack("!Q", _read_exact(f, 8))
    if n > MAX_MESSAGE:
        raise ProtocolError(f"frame of {n} bytes is larger than {MAX_MESSAGE}")
    if not b1 & 0x80:
        raise ProtocolError("client frames must be masked (RFC 6455 5.1)")
    mask = _read_exact(f, 4)
    raw = _read_exact(f, n)
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(raw))
    return Frame(fin=bool(b0 & 0x80), opcode=b0 & 0x0F, payload=payload)


class Channels:
    """Channel messages over one upgraded connection."""

    def __init__(self, rfile: BinaryIO, wfile: BinaryIO, protocol: str) -> None:
        self.rfile = rfile
        self.wfile = wfile
        self.protocol = protocol
        self.lock = threading.Lock()  # several threads send (stdout, stderr, status)

    def send(self, channel: int, data: bytes) -> None:
        with self.lock:
            self.wfile.write(encode_frame(OP_BINARY, bytes([channel]) + data))
            self.wfile.flush()

    def close(self, code: int = 1000) -> None:
        try:
            with self.lock:
                self.wfile.write(encode_frame(OP_CLOSE, struct.pack("!H", code)))
                self.wfile.flush()
        except OSError:
            pass

    def receive(self) -> tuple[int, bytes] | None:
        """The next channel message (pings answered on the way); None when the client closed."""
        message = b""
        while True:
            try:
                frame = read_frame(self.rfile)
            except EOFError:
                return None
            if frame.opcode == OP_PING:
                with self.lock:
                    self.wfile.write(encode_frame(OP_PONG, frame.payload))
                    self.wfile.flush()
                continue
            if frame.opcode == OP_PONG:
                continue
            if frame.opcode == OP_CLOSE:
                return None
            message += frame.payload
            if len(message) > MAX_MESSAGE:
                raise ProtocolError("message too large")
            if frame.fin:
                break
        if not message:
            return self.receive()
        return message[0], message[1:]


def exit_status(code: int) -> bytes:
    """The metav1.Status kubectl reads from the error channel to learn the exit code."""
    if code == 0:
        status: dict[str, object] = {"metadata": {}, "status": "Success"}
    else:
        status = {
            "metadata": {},
            "status": "Failure",
            "message": f"command terminated with non-zero exit code: exit status {code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
        }
    return json.dumps(status).encode()


def error_status(message: str) -> bytes:
    return json.dumps(
        {"metadata": {}, "status": "Failure", "message": message, "reason": "InternalError"}
    ).encode()
