"""Reading container log files (CRI format, written by the shim), as `kubectl logs` shows them.

Each line of a log file is `<RFC3339Nano time> <stdout|stderr> <F|P> <text>`; P entries are
pieces of a longer line, continued by the next entry. Pure functions over bytes.
"""

from __future__ import annotations

import calendar
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    time: str
    stream: str
    full: bool
    text: bytes

    @property
    def epoch(self) -> float:
        return to_epoch(self.time)


def to_epoch(stamp: str) -> float:
    """`2024-05-01T10:00:00.123456789Z` -> seconds since the epoch (0.0 when unreadable)."""
    try:
        whole = calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return 0.0
    frac = stamp[20:-1] if len(stamp) > 20 and stamp[19] == "." else "0"
    return whole + float(f"0.{frac}" if frac.isdigit() else 0)


def parse(data: bytes) -> list[Entry]:
    """Entries of a log file; a torn last line (being written) is left out."""
    out = []
    for line in data.split(b"\n")[:-1]:
        parts = line.split(b" ", 3)
        if len(parts) == 4 and parts[2] in (b"F", b"P"):
            out.append(Entry(parts[0].decode(), parts[1].decode(), parts[2] == b"F", parts[3]))
        else:  # not our format: show it as it is
            out.append(Entry("", "stdout", True, line))
    return out


def lines(entries: list[Entry]) -> list[tuple[str, bytes]]:
    """Whole lines (P pieces joined): (time of the first piece, text with its newline)."""
    out: list[tuple[str, bytes]] = []
    pending: dict[str, tuple[str, bytes]] = {}
    for e in entries:
        start, text = pending.pop(e.stream, (e.time, b""))
        text += e.text
        if e.full:
            out.append((start, text + b"\n"))
        else:
            pending[e.stream] = (start, text)
    out.extend(pending.values())  # a last line without newline
    return out


def render(
    data: bytes,
    *,
    tail: int = -1,
    since: float | None = None,
    timestamps: bool = False,
    limit: int = -1,
) -> bytes:
    """What `kubectl logs` prints, with its --tail, --since(-time), --timestamps, --limit-bytes."""
    chosen = lines(parse(data))
    if since is not None:
        chosen = [(t, text) for t, text in chosen if to_epoch(t) >= since]
    if tail >= 0:
        chosen = chosen[-tail:] if tail else []
    out = b"".join((t.encode() + b" " if timestamps and t else b"") + text for t, text in chosen)
    return out[:limit] if limit >= 0 else out
