"""The linearizability checker itself, on small hand-made histories."""

from __future__ import annotations

import math

from tests.integration.kvstore.linearizability import Op, check

INF = math.inf


def test_sequential_history_is_linearizable() -> None:
    history = [
        Op("k", "write", 0, 1, "a"),
        Op("k", "read", 2, 3, "a"),
        Op("k", "cas", 4, 5, "b", expected="a", ok=True),
        Op("k", "read", 6, 7, "b"),
        Op("k", "cas", 8, 9, "c", expected="a", ok=False),
    ]
    assert check(history).ok


def test_stale_read_after_acknowledged_write_is_caught() -> None:
    history = [
        Op("k", "write", 0, 1, "a"),
        Op("k", "write", 2, 3, "b"),
        Op("k", "read", 4, 5, "a"),
    ]
    verdict = check(history)
    assert not verdict.ok
    assert verdict.key == "k"


def test_concurrent_ops_may_take_effect_in_either_order() -> None:
    history = [
        Op("k", "write", 0, 10, "a"),
        Op("k", "write", 1, 9, "b"),
        Op("k", "read", 11, 12, "a"),
    ]
    assert check(history).ok


def test_unknown_write_may_or_may_not_have_happened() -> None:
    took_effect = [Op("k", "write", 0, INF, "x"), Op("k", "read", 5, 6, "x")]
    never = [Op("k", "write", 0, INF, "x"), Op("k", "read", 5, 6, None)]
    assert check(took_effect).ok
    assert check(never).ok


def test_read_cannot_flip_back_to_an_older_value() -> None:
    history = [
        Op("k", "write", 0, INF, "x"),
        Op("k", "read", 5, 6, "x"),
        Op("k", "read", 7, 8, None),
    ]
    assert not check(history).ok


def test_failed_cas_must_not_have_seen_the_expected_value() -> None:
    history = [
        Op("k", "write", 0, 1, "a"),
        Op("k", "cas", 2, 3, "b", expected="a", ok=False),
    ]
    assert not check(history).ok


def test_keys_are_checked_independently() -> None:
    history = [Op("a", "write", 0, 1, "1"), Op("b", "read", 0, 1, None)]
    assert check(history).ops == 2
