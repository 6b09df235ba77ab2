"""Each fault does what it says on a running lab, and `heal` restores the lab."""

from __future__ import annotations

import subprocess
import sys

import pytest

import netlab
from netlab import nsfs
from netlab.rtnl import Rtnl
from tests.integration.netlab.conftest import Labs

pytestmark = [pytest.mark.netns, pytest.mark.timeout(120)]

UDP_RECV = (
    "import socket,sys\n"
    "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(('0.0.0.0',int(sys.argv[1])))\n"
    "print('ready', flush=True)\n"
    "s.settimeout(float(sys.argv[2]))\n"
    "try:\n    print(s.recvfrom(100)[1][0])\nexcept TimeoutError:\n    print('none')\n"
)
UDP_SEND = (
    "import socket,sys,time\n"
    "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
    "for _ in range(20):\n    s.sendto(b'x',(sys.argv[1],int(sys.argv[2]))); time.sleep(0.05)\n"
)


def operstate(netns: str | None, ifname: str) -> str:
    with Rtnl() as rt:
        for link in rt.links(netns):
            if link.get_attr("IFLA_IFNAME") == ifname:
                return str(link.get_attr("IFLA_OPERSTATE"))
    raise AssertionError(f"no {ifname} in {netns}")


def udp_reaches(labs: Labs, src: str, dst: str, dst_addr: str) -> bool:
    recv = netlab.popen(
        labs.prefix, dst, [sys.executable, "-c", UDP_RECV, "7100", "1.5"], stdout=subprocess.PIPE
    )
    try:
        assert recv.stdout is not None
        assert recv.stdout.readline().strip() == b"ready"
        labs.run(src, sys.executable, "-c", UDP_SEND, dst_addr, "7100")
        out, _ = recv.communicate(timeout=10)
    finally:
        recv.kill()
        recv.wait()
    return out.decode().strip() != "none"


@pytest.fixture
def router(labs: Labs) -> Labs:
    labs.up(labs.example("router.yaml"))
    assert labs.ping("left", "192.168.2.10")
    return labs


def test_link_down_is_seen_at_both_ends_and_up_restores(router: Labs) -> None:
    p = router.prefix
    netlab.link_down(p, "left:eth0")
    assert operstate(f"{p}-left", "eth0") == "DOWN"
    assert operstate(f"{p}-router", "left") == "DOWN"
    assert router.unreachable("left", "192.168.2.10")
    assert netlab.status(p).faults.down == ("left:eth0",)
    netlab.link_up(p, "left:eth0")
    assert router.ping("left", "192.168.2.10")


def test_heal_brings_links_back_up(router: Labs) -> None:
    netlab.link_down(router.prefix, "router:right")
    assert router.unreachable("left", "192.168.2.10")
    netlab.heal(router.prefix)
    assert router.ping("left", "192.168.2.10")


def test_partition_both_ways_then_heal(router: Labs) -> None:
    netlab.partition(router.prefix, ["left"], ["right"])
    assert router.unreachable("left", "192.168.2.10")
    assert router.unreachable("right", "192.168.1.10")
    assert router.ping("left", "192.168.1.1")  # the router itself is not partitioned
    netlab.heal(router.prefix)
    assert router.ping("left", "192.168.2.10")
    assert router.ping("right", "192.168.1.10")


def test_partition_one_way(router: Labs) -> None:
    netlab.partition(router.prefix, ["left"], ["right"], oneway=True)
    assert not udp_reaches(router, "left", "right", "192.168.2.10")
    assert udp_reaches(router, "right", "left", "192.168.1.10")
    netlab.heal(router.prefix)
    assert udp_reaches(router, "left", "right", "192.168.2.10")


def test_packet_loss_uses_statistic_and_zero_removes_it(router: Labs) -> None:
    p = router.prefix
    netlab.loss(p, "right:eth0", 50)
    rules = router.run("right", "iptables-save", "-t", "filter").stdout
    assert "-A NL-FAULT -i eth0 -m statistic --mode random --probability 0.5" in rules
    assert f'--comment "netlab:{p}" -j DROP' in rules
    netlab.loss(p, "right:eth0", 100)
    assert router.unreachable("left", "192.168.2.10")
    netlab.loss(p, "right:eth0", 0)
    assert router.ping("left", "192.168.2.10")


def test_bandwidth_installs_tbf_and_heal_removes_it(router: Labs) -> None:
    netns = f"{router.prefix}-left"
    netlab.bandwidth(router.prefix, "left:eth0", "1mbit")
    with Rtnl() as rt:
        assert "tbf" in rt.qdisc_kinds(netns, "eth0")
    assert router.ping("left", "192.168.2.10")
    netlab.heal(router.prefix)
    with Rtnl() as rt:
        assert "tbf" not in rt.qdisc_kinds(netns, "eth0")


def test_delay_without_netem_names_the_alternatives(router: Labs) -> None:
    try:
        netlab.delay(router.prefix, "left:eth0", 50)
    except netlab.UnsupportedFaultError as exc:
        message = str(exc)
    else:
        pytest.skip("this kernel has netem: the unsupported path cannot be shown here")
    assert "netem" in message
    assert "netlab fault loss" in message
    assert "netlab fault bandwidth" in message


def test_faults_name_what_exists(router: Labs) -> None:
    with pytest.raises(netlab.FaultError, match="has: left:eth0"):
        netlab.link_down(router.prefix, "left:eth9")
    with pytest.raises(netlab.FaultError, match="unknown hosts ghost"):
        netlab.partition(router.prefix, ["ghost"], ["left"])
    with pytest.raises(netlab.LabNotFoundError):
        netlab.heal("nlnothere")
    assert nsfs.exists(f"{router.prefix}-left")
