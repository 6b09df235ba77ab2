"""The follower-side append rewrite that keeps pysyncobj from truncating matching entries."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from controlplane.kvstore.raft import _RaftNode


def _rewrite(log: list[tuple[bytes, int, int]], message: dict[str, Any]) -> dict[str, Any]:
    node = SimpleNamespace(_SyncObj__raftLog=log)
    return _RaftNode._without_duplicates(node, message)  # type: ignore[arg-type]


LOG = [(b"", 1, 1), (b"a", 2, 1), (b"b", 3, 2), (b"c", 4, 2), (b"d", 5, 2)]


def _append(prev: int, prev_term: int, entries: list[tuple[bytes, int, int]]) -> dict[str, Any]:
    return {
        "type": "append_entries",
        "term": 2,
        "commit_index": 5,
        "prevLogIdx": prev,
        "prevLogTerm": prev_term,
        "entries": entries,
    }


def test_resent_entries_of_this_leader_are_skipped_not_truncated() -> None:
    out = _rewrite(LOG, _append(3, 2, [(b"c", 4, 2)]))
    assert (out["prevLogIdx"], out["prevLogTerm"], out["entries"]) == (5, 2, [])


def test_overlap_keeps_only_new_entries() -> None:
    out = _rewrite(LOG, _append(3, 2, [(b"c", 4, 2), (b"d", 5, 2), (b"e", 6, 2)]))
    assert (out["prevLogIdx"], out["entries"]) == (5, [(b"e", 6, 2)])


def test_heartbeat_behind_the_log_does_not_truncate() -> None:
    out = _rewrite(LOG, _append(4, 2, []))
    assert (out["prevLogIdx"], out["entries"]) == (5, [])


def test_conflicting_term_is_left_to_raft() -> None:
    message = _append(2, 1, [(b"x", 3, 3)])
    message["term"] = 3
    assert _rewrite(LOG, message) is message


def test_tail_from_an_older_leader_is_left_to_raft() -> None:
    message = _append(1, 1, [])
    message["term"] = 3
    assert _rewrite(LOG, message) is message


def test_prev_term_mismatch_is_left_to_raft() -> None:
    message = _append(3, 1, [])
    assert _rewrite(LOG, message) is message
