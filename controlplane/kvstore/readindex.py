"""Read-index bookkeeping for linearizable reads without log writes (Raft thesis 6.4), pure.

The leader answers a read with its commit index once a quorum has shown, after the read
arrived, that it still follows this leader: the leader counts the appends it sent to each peer
and the acknowledgements it got back. A peer answers each append at most once, so when a peer
has acknowledged more appends than had been sent to it when the read arrived, one of those
acknowledgements answers an append sent after the read, i.e. the peer still accepted this
leader's term then. Lost or unanswered appends only delay the confirmation, never fake it.

The caller (the Raft thread) then waits until its applied index reaches the returned index.
This module holds no locks and reads no clock; peers are opaque hashable values.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field

from controlplane.kvstore.errors import KvError

Reply = Callable[[int | None, KvError | None], None]


@dataclass
class _Read:
    reply: Reply
    read_index: int = 0
    sent_then: dict[Hashable, int] = field(default_factory=dict)


class ReadIndexTracker:
    def __init__(self, sent: Counter[Hashable] | None = None) -> None:
        # `sent` may be shared with the transport, which counts appends as it sends them
        self.sent: Counter[Hashable] = sent if sent is not None else Counter()
        self.acked: Counter[Hashable] = Counter()
        self._new: list[_Read] = []
        self._waiting: list[_Read] = []

    def on_append_sent(self, peer: Hashable) -> None:
        self.sent[peer] += 1

    def on_append_acked(self, peer: Hashable) -> None:
        self.acked[peer] += 1

    def request(self, reply: Reply) -> None:
        self._new.append(_Read(reply))

    @property
    def pending(self) -> bool:
        return bool(self._new or self._waiting)

    def start(self, commit_index: int, peers: Iterable[Hashable]) -> bool:
        """Pin new reads to `commit_index`; True if a heartbeat must go out to confirm them.

        Call only while leader and once an entry of the current term is committed.
        """
        if not self._new:
            return False
        snapshot = {peer: self.sent[peer] for peer in peers}
        for read in self._new:
            read.read_index = commit_index
            read.sent_then = snapshot
        self._waiting.extend(self._new)
        self._new = []
        return True

    def confirm(self, peers: Iterable[Hashable]) -> None:
        """Answer every read that a quorum (this leader included) has confirmed."""
        others = list(peers)
        quorum = (len(others) + 1) // 2 + 1
        still: list[_Read] = []
        for read in self._waiting:
            votes = 1 + sum(1 for p in others if self.acked[p] > read.sent_then.get(p, 0))
            if votes >= quorum:
                read.reply(read.read_index, None)
            else:
                still.append(read)
        self._waiting = still

    def fail_all(self, error: KvError) -> None:
        reads, self._new, self._waiting = self._new + self._waiting, [], []
        for read in reads:
            read.reply(None, error)
