"""The shared netns fixture: real namespaces joined by a veth, and nothing left afterwards."""

from __future__ import annotations

import subprocess

import pytest

from tests.support.netns import NetnsFactory, list_netns, netns_factory, run

pytestmark = pytest.mark.netns


def test_two_namespaces_ping_over_a_veth(netns: NetnsFactory) -> None:
    a, b = netns("a"), netns("b")
    veth_a, veth_b = f"{netns.tag}a", f"{netns.tag}b"
    run("ip", "link", "add", veth_a, "netns", a, "type", "veth", "peer", "name", veth_b, "netns", b)
    run("ip", "-n", a, "addr", "add", "192.0.2.1/30", "dev", veth_a)
    run("ip", "-n", b, "addr", "add", "192.0.2.2/30", "dev", veth_b)
    run("ip", "-n", a, "link", "set", veth_a, "up")
    run("ip", "-n", b, "link", "set", veth_b, "up")
    ping = subprocess.run(
        ["ip", "netns", "exec", a, "ping", "-c", "1", "-W", "2", "192.0.2.2"],
        capture_output=True,
        text=True,
    )
    assert ping.returncode == 0, ping.stdout + ping.stderr


def test_factory_deletes_namespaces_and_links_even_on_error() -> None:
    created: list[str] = []

    def build_then_fail() -> None:
        with netns_factory() as factory:
            created.extend([factory("x"), factory.tag])
            run("ip", "link", "add", f"{factory.tag}h", "type", "veth", "peer", "name", "tmp0")
            assert created[0] in list_netns()
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        build_then_fail()
    name, tag = created
    assert name not in list_netns()
    links = run("ip", "-o", "link", "show").stdout
    assert tag not in links
    assert "tmp0" not in links
