"""Group commit: one log entry applies many proposals, each its own transaction and result."""

from __future__ import annotations

from typing import Any

from pysyncobj import FAIL_REASON

from controlplane.kvstore.commands import Command, Write, WriteKind
from controlplane.kvstore.mvcc import Applied, MvccStore
from controlplane.kvstore.raft import Callback, _fan_out, _Machine, _Slots
from kubelab.gen.etcd import rpc_pb2


def _put(key: bytes, value: bytes = b"v") -> Write:
    return Write(WriteKind.PUT, rpc_pb2.PutRequest(key=key, value=value).SerializeToString())


def _apply_batch(machine: _Machine, commands: tuple[Command, ...]) -> tuple[Applied, ...]:
    return machine.apply_batch(commands, _doApply=True)  # type: ignore[no-any-return]


def test_each_command_of_a_batch_is_its_own_revision() -> None:
    woken: list[Applied] = []
    machine = _Machine(MvccStore(), woken.append)
    results = _apply_batch(machine, (_put(b"a"), _put(b"b"), _put(b"a", b"w")))
    assert [r.revision for r in results] == [2, 3, 4]
    assert [r.error for r in results] == [None, None, None]
    assert machine.store.revision == 4
    assert len(woken) == 1  # watchers are woken once per entry
    assert woken[0] is results[-1]


def test_a_failing_command_fails_alone() -> None:
    machine = _Machine(MvccStore(), lambda _: None)
    empty_key = Write(WriteKind.PUT, rpc_pb2.PutRequest(key=b"").SerializeToString())
    results = _apply_batch(machine, (_put(b"a"), empty_key, _put(b"b")))
    assert results[1].error is not None
    assert [results[0].revision, results[2].revision] == [2, 3]


def test_a_batch_and_its_commands_one_by_one_give_the_same_state() -> None:
    commands = tuple(_put(b"k%d" % (i % 3), b"%d" % i) for i in range(10))
    batched = _Machine(MvccStore(), lambda _: None)
    _apply_batch(batched, commands)
    single = _Machine(MvccStore(), lambda _: None)
    for command in commands:
        single.apply(command, _doApply=True)
    assert batched.store.dump() == single.store.dump()


def test_fan_out_hands_each_proposal_its_own_result() -> None:
    got: list[tuple[int, Any, int]] = []

    def callback(index: int) -> Callback:
        return lambda result, error: got.append((index, result, error))

    _fan_out([callback(i) for i in range(3)], ("r0", "r1", "r2"), FAIL_REASON.SUCCESS)
    assert got == [(0, "r0", FAIL_REASON.SUCCESS), (1, "r1", 0), (2, "r2", 0)]


def test_fan_out_hands_a_failure_to_every_proposal() -> None:
    got: list[tuple[Any, int]] = []
    callbacks = [lambda r, e: got.append((r, e)) for _ in range(2)]
    _fan_out(callbacks, None, FAIL_REASON.LEADER_CHANGED)
    assert got == [(None, FAIL_REASON.LEADER_CHANGED)] * 2


def test_fan_out_never_pairs_results_with_the_wrong_proposals() -> None:
    got: list[tuple[Any, int]] = []
    callbacks = [lambda r, e: got.append((r, e)) for _ in range(2)]
    _fan_out(callbacks, ("only one",), FAIL_REASON.SUCCESS)
    assert got == [(None, FAIL_REASON.SUCCESS)] * 2  # the caller reports "apply failed"


def test_slots_bound_the_proposals_in_flight() -> None:
    slots = _Slots(2)
    assert slots.acquire()
    assert slots.acquire()
    assert not slots.acquire()
    slots.release()
    assert slots.acquire()
