"""Read-index bookkeeping: a read is answered only after a quorum acknowledged a later append."""

from __future__ import annotations

from controlplane.kvstore.errors import KvError, leader_changed
from controlplane.kvstore.readindex import ReadIndexTracker


class Replies:
    def __init__(self) -> None:
        self.got: list[tuple[int | None, KvError | None]] = []

    def __call__(self, index: int | None, error: KvError | None) -> None:
        self.got.append((index, error))


def test_read_waits_for_a_quorum_ack_of_an_append_sent_after_it() -> None:
    t, replies, peers = ReadIndexTracker(), Replies(), ["b", "c"]
    for p in peers:
        t.on_append_sent(p)  # in flight before the read
    t.request(replies)
    assert t.start(commit_index=7, peers=peers)
    for p in peers:
        t.on_append_sent(p)  # the confirming heartbeat
    t.on_append_acked("b")  # answers the append sent before the read: proves nothing
    t.confirm(peers)
    assert replies.got == []
    t.on_append_acked("b")  # the second ack must answer the heartbeat
    t.confirm(peers)
    assert replies.got == [(7, None)]
    assert not t.pending


def test_single_member_confirms_at_once() -> None:
    t, replies = ReadIndexTracker(), Replies()
    t.request(replies)
    t.start(3, [])
    t.confirm([])
    assert replies.got == [(3, None)]


def test_reads_arriving_later_are_pinned_to_the_later_commit_index() -> None:
    t, first, second, peers = ReadIndexTracker(), Replies(), Replies(), ["b", "c", "d", "e"]
    t.request(first)
    t.start(5, peers)
    for p in peers:
        t.on_append_sent(p)
    t.request(second)
    t.start(6, peers)
    for p in peers:
        t.on_append_sent(p)
    t.on_append_acked("b")
    t.on_append_acked("c")
    t.confirm(peers)
    assert first.got == [(5, None)]
    assert second.got == []
    t.on_append_acked("b")
    t.on_append_acked("c")
    t.confirm(peers)
    assert second.got == [(6, None)]


def test_losing_leadership_fails_pending_reads() -> None:
    t, replies = ReadIndexTracker(), Replies()
    t.request(replies)
    t.start(1, ["b", "c"])
    t.fail_all(leader_changed())
    assert replies.got[0][0] is None
    assert replies.got[0][1] is not None
    assert not t.pending
