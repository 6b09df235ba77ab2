"""Streaming exec: a command in a container's namespaces, wired to a WebSocket's channels.

After the kubelet server has answered the upgrade (101), `run_exec` starts the command (under a
pty when `tty`, its controlling terminal, as `setsid -c` makes it), pumps stdin from channel
0 to the command and its stdout/stderr to channels 1/2 as they come, applies resize messages
(channel 4, `{"Width": W, "Height": H}`) to the pty, and at the end writes the exit status on
channel 3 (kubectl's exit code) and closes the WebSocket. A client that goes away kills the
command.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import pty
import shutil
import struct
import subprocess
import termios
import threading
from dataclasses import dataclass

from kubelab.api import remotecommand as rc

log = logging.getLogger(__name__)
# The host's util-linux setsid (the container's PATH may put busybox's first).
SETSID = shutil.which("setsid") or "/usr/bin/setsid"


@dataclass(frozen=True)
class Streams:
    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool


def _resize(fd: int, data: bytes) -> None:
    try:
        size = json.loads(data)
        cols, rows = int(size.get("Width", 0)), int(size.get("Height", 0))
    except (ValueError, TypeError, AttributeError):
        return
    if cols > 0 and rows > 0:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _pump(fd: int, ch: rc.Channels, channel: int, send: bool) -> None:
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:
            return  # a pty's master reads EIO once every slave is closed
        if not data:
            return
        if send:
            try:
                ch.send(channel, data)
            except OSError:
                return


def run_exec(ch: rc.Channels, cmd: list[str], env: dict[str, str], streams: Streams) -> int:
    """Run `cmd` wired to `ch` until it exits; returns its exit code (also sent on channel 3)."""
    master = -1
    if streams.tty:
        master, slave = pty.openpty()
        proc = subprocess.Popen(
            [SETSID, "-c", *cmd], stdin=slave, stdout=slave, stderr=slave, env=env
        )
        os.close(slave)
        pumps = [threading.Thread(target=_pump, args=(master, ch, rc.STDOUT, streams.stdout))]
    else:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE if streams.stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
        assert proc.stdout is not None
        assert proc.stderr is not None
        pumps = [
            threading.Thread(
                target=_pump, args=(proc.stdout.fileno(), ch, rc.STDOUT, streams.stdout)
            ),
            threading.Thread(
                target=_pump, args=(proc.stderr.fileno(), ch, rc.STDERR, streams.stderr)
            ),
        ]
    for t in pumps:
        t.daemon = True
        t.start()
    feeder = threading.Thread(target=_feed, args=(ch, proc, master, streams), daemon=True)
    feeder.start()
    code = proc.wait()
    for t in pumps:
        t.join(timeout=None if not streams.tty else 2)
    if master >= 0:
        os.close(master)
    with contextlib.suppress(OSError):
        ch.send(rc.ERROR, rc.exit_status(code if code >= 0 else 128 - code))
    ch.close()
    return code


def _feed(ch: rc.Channels, proc: subprocess.Popen[bytes], master: int, streams: Streams) -> None:
    """Client to command: stdin, resizes, stdin's close; kill the command if the client goes."""
    while True:
        try:
            msg = ch.receive()
        except (OSError, rc.ProtocolError, ValueError):
            msg = None
        if msg is None:
            if proc.poll() is None:
                log.info("exec client gone; killing pid=%d", proc.pid)
                proc.kill()
            return
        channel, data = msg
        try:
            if channel == rc.STDIN and streams.stdin:
                if master >= 0:
                    os.write(master, data)
                elif proc.stdin is not None:
                    proc.stdin.write(data)
                    proc.stdin.flush()
            elif channel == rc.RESIZE and master >= 0:
                _resize(master, data)
            elif channel == rc.CLOSE and data[:1] == bytes([rc.STDIN]) and proc.stdin is not None:
                proc.stdin.close()
        except (OSError, ValueError):
            pass  # the command closed its stdin or exited
