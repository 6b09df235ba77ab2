"""Rendered iptables text against golden files. Regenerate with NETLAB_REWRITE_GOLDEN=1."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import netlab
from netlab.faults_render import fault_drops
from netlab.model import Masquerade, PortForward
from netlab.rules import Drop, render_cleanup, render_faults, render_guard, render_nat
from netlab.state import Faults, Partition

GOLDEN = Path(__file__).parent / "golden"
EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "netlab"


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("NETLAB_REWRITE_GOLDEN"):
        path.write_text(text)
    assert path.exists(), f"no golden file {path}; run with NETLAB_REWRITE_GOLDEN=1"
    assert text == path.read_text()


def test_nat_of_the_bridge_example() -> None:
    plan = netlab.resolve(netlab.load(EXAMPLES / "bridge.yaml"))
    gw = plan.host("gw")
    assert gw is not None
    check_golden("bridge-gw-nat.rules", render_nat(gw.masquerade, gw.forwards, prefix=plan.prefix))


def test_nat_skips_jumps_that_exist() -> None:
    saved = (
        "*nat\n-A PREROUTING -j NL-PRE\n-A OUTPUT -j NL-PRE\n-A POSTROUTING -j NL-POST\nCOMMIT\n"
    )
    text = render_nat([Masquerade("10.0.0.0/8", "up", "p")], [], saved)
    check_golden("nat-existing-jumps.rules", text)


def test_udp_forward_without_interface() -> None:
    text = render_nat([], [PortForward("udp", 53, "10.0.0.5", 5353, None, "p")])
    assert "-A NL-PRE -p udp -m udp --dport 53 -j DNAT --to-destination 10.0.0.5:5353" in text


def test_fault_rules() -> None:
    drops = [Drop(source="10.0.0.1/32"), Drop(in_if="eth0", probability=0.25)]
    check_golden("faults.rules", render_faults(drops, prefix="nlx1"))


def test_guard() -> None:
    check_golden("guard.rules", render_guard("nlx1"))
    again = render_guard("nlx1", '-A FORWARD -m comment --comment "netlab:nlx1" -j nlx1-guard\n')
    assert "-A FORWARD" not in again


SAVED = """\
*nat
:PREROUTING ACCEPT [0:0]
:other-chain - [0:0]
-A PREROUTING -j other-chain
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:nlx1-guard - [0:0]
:nlx10-guard - [0:0]
-A FORWARD -m comment --comment "netlab:nlx1" -j nlx1-guard
-A FORWARD -m comment --comment "netlab:nlx10" -j nlx10-guard
-A FORWARD -i eth0 -j ACCEPT
-A nlx1-guard -i nlx1-+ ! -o nlx1-+ -j DROP
COMMIT
"""


def test_cleanup_touches_only_its_prefix() -> None:
    text = render_cleanup("nlx1", SAVED)
    check_golden("cleanup.rules", text)
    assert "nlx10" not in text
    assert render_cleanup("nlzz", SAVED) == ""


def test_partition_and_loss_become_drops() -> None:
    plan = netlab.resolve(netlab.load(EXAMPLES / "router.yaml"))
    both = fault_drops(plan, Faults(partitions=(Partition(("left",), ("right",), False),)))
    assert both["right"] == [Drop(source="192.168.1.10/32")]
    assert both["left"] == [Drop(source="192.168.2.10/32")]
    assert both["router"] == []
    oneway = fault_drops(plan, Faults(partitions=(Partition(("left",), ("right",), True),)))
    assert oneway["left"] == []
    lossy = fault_drops(plan, Faults(loss=(("router:left", 30.0),)))
    (drop,) = lossy["router"]
    assert drop.in_if == "left"
    assert drop.probability == pytest.approx(0.3)
