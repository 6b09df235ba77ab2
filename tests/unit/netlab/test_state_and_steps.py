from __future__ import annotations

import errno
from pathlib import Path

import pytest
from pyroute2.netlink.exceptions import NetlinkError

from netlab import state
from netlab.errors import ApplyError, CommandError
from netlab.lifecycle import Transaction
from netlab.state import Faults, Partition, Record


def test_record_round_trips_with_faults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETLAB_STATE_DIR", str(tmp_path))
    faults = Faults(
        partitions=(Partition(("a",), ("b", "c"), True),),
        loss=(("a:eth0", 12.5),),
        bandwidth=(("b:eth0", "1mbit"),),
        down=("c:eth0",),
    )
    state.save(Record("lab-one", "nlone", "lab.yaml", "name: lab-one\n", faults))
    assert state.read("nlone") == Record("lab-one", "nlone", "lab.yaml", "name: lab-one\n", faults)
    assert state.find("lab-one") == state.find("nlone")
    assert [r.prefix for r in state.records()] == ["nlone"]
    state.remove("nlone")
    state.remove("nlone")
    assert state.find("lab-one") is None


def test_a_failing_step_names_itself_and_the_errno() -> None:
    tx = Transaction()

    def fail() -> None:
        raise NetlinkError(errno.EEXIST)

    with pytest.raises(ApplyError) as info:
        tx.step("create veth a:eth0 <-> b:eth0", fail)
    assert info.value.step == "create veth a:eth0 <-> b:eth0"
    assert info.value.errno == errno.EEXIST
    assert str(info.value) == "step 'create veth a:eth0 <-> b:eth0' failed: File exists (errno 17)"


def test_command_errors_carry_stderr() -> None:
    tx = Transaction()

    def fail() -> None:
        raise CommandError(["iptables-restore"], 2, "line 3 failed\n")

    with pytest.raises(ApplyError, match="line 3 failed"):
        tx.step("apply NAT rules in x", fail)


def test_rollback_undoes_only_what_was_created_in_reverse() -> None:
    done: list[str] = []
    tx = Transaction()
    tx.step("one", lambda: True, lambda: done.append("undo one"))
    tx.step("existed", lambda: False, lambda: done.append("undo existed"))
    tx.step("two", lambda: None, lambda: done.append("undo two"))

    def broken_undo() -> None:
        raise OSError(errno.EBUSY, "busy")

    tx.step("three", lambda: True, broken_undo)
    tx.rollback()
    assert done == ["undo two", "undo one"]
    assert tx.undo == []
