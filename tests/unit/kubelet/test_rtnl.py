"""rtnetlink messages against golden bytes, field by field (layouts from rtnetlink(7) and the
kernel's uapi headers; little-endian, as on every machine kubelab runs on)."""

from __future__ import annotations

import errno
import struct

import pytest

from node_agent.kubelet import rtnl


def h(*fields: str) -> bytes:
    return bytes.fromhex("".join(fields).replace(" ", ""))


IFINFO_0 = "00 00 0000 00000000 00000000 00000000"  # family, pad, type, index, flags, change


def test_get_link_by_name() -> None:
    assert rtnl.get_link(3, "cbr0") == h(
        "2c000000 1200 0100 03000000 00000000",  # len 44, RTM_GETLINK, REQUEST, seq 3, pid 0
        IFINFO_0,
        "0900 0300 63627230 00 000000",  # IFLA_IFNAME "cbr0\0", padded to 12
    )


def test_new_bridge() -> None:
    assert rtnl.new_bridge(1, "cbr0") == h(
        "3c000000 1000 0506 01000000 00000000",  # RTM_NEWLINK, REQUEST|ACK|EXCL|CREATE
        IFINFO_0,
        "0900 0300 63627230 00 000000",  # IFLA_IFNAME
        "1000 1280",  # IFLA_LINKINFO | NLA_F_NESTED, len 16
        "0b00 0100 62726964676500 00",  # IFLA_INFO_KIND "bridge\0"
    )


def test_new_veth_with_peer_in_another_namespace() -> None:
    assert rtnl.new_veth(7, "veth0", "eth0", 5) == h(
        "68000000 1000 0506 07000000 00000000",  # len 104
        IFINFO_0,
        "0a00 0300 7665746830 00 0000",  # IFLA_IFNAME "veth0\0"
        "3c00 1280",  # IFLA_LINKINFO (nested), len 60
        "0900 0100 7665746800 000000",  # IFLA_INFO_KIND "veth\0"
        "2c00 0280",  # IFLA_INFO_DATA (nested), len 44
        "2800 0100",  # VETH_INFO_PEER, len 40: an ifinfomsg and the peer's attributes
        IFINFO_0,
        "0900 0300 65746830 00 000000",  # IFLA_IFNAME "eth0\0"
        "0800 1c00 05000000",  # IFLA_NET_NS_FD 5
    )


def test_new_veth_on_a_bridge_and_up() -> None:
    assert rtnl.new_veth(7, "veth0", "eth0", 5, master=4, up=True) == h(
        "70000000 1000 0506 07000000 00000000",  # len 112
        "00 00 0000 00000000 01000000 01000000",  # flags IFF_UP, change IFF_UP
        "0a00 0300 7665746830 00 0000",  # IFLA_IFNAME "veth0\0"
        "0800 0a00 04000000",  # IFLA_MASTER 4
        "3c00 1280",  # IFLA_LINKINFO (nested), len 60
        "0900 0100 7665746800 000000",  # IFLA_INFO_KIND "veth\0"
        "2c00 0280",  # IFLA_INFO_DATA (nested), len 44
        "2800 0100",  # VETH_INFO_PEER, len 40
        IFINFO_0,  # the peer cannot come up before the pair is joined
        "0900 0300 65746830 00 000000",  # IFLA_IFNAME "eth0\0"
        "0800 1c00 05000000",  # IFLA_NET_NS_FD 5
    )


def test_set_link_up_with_master() -> None:
    assert rtnl.set_link(2, 9, up=True, master=4) == h(
        "28000000 1000 0500 02000000 00000000",  # RTM_NEWLINK, REQUEST|ACK (no create)
        "00 00 0000 09000000 01000000 01000000",  # index 9, flags IFF_UP, change IFF_UP
        "0800 0a00 04000000",  # IFLA_MASTER 4
    )


def test_set_link_without_changes_leaves_flags_alone() -> None:
    assert rtnl.set_link(2, 9)[16:] == h("00 00 0000 09000000 00000000 00000000")


def test_hairpin_is_a_bridge_port_attribute() -> None:
    assert rtnl.set_hairpin(4, 9) == h(
        "2c000000 1300 0500 04000000 00000000",  # RTM_SETLINK
        "07 00 0000 09000000 00000000 00000000",  # family AF_BRIDGE, index 9
        "0c00 0c80",  # IFLA_PROTINFO (nested)
        "0500 0400 01 000000",  # IFLA_BRPORT_MODE 1 (hairpin)
    )


def test_delete_link_by_name() -> None:
    assert rtnl.del_link(5, name="veth0") == h(
        "2c000000 1100 0500 05000000 00000000",  # RTM_DELLINK
        IFINFO_0,
        "0a00 0300 7665746830 00 0000",
    )


def test_new_address() -> None:
    assert rtnl.new_addr(6, 3, "10.244.1.2", 24) == h(
        "28000000 1400 0506 06000000 00000000",  # RTM_NEWADDR, create exclusive
        "02 18 00 00 03000000",  # AF_INET, /24, flags, scope universe, index 3
        "0800 0200 0af40102",  # IFA_LOCAL
        "0800 0100 0af40102",  # IFA_ADDRESS
    )


def test_replace_route_with_protocol() -> None:
    msg = rtnl.new_route(1, "10.244.2.0", 24, "10.250.0.21", proto=77, replace=True)
    assert msg == h(
        "2c000000 1800 0505 01000000 00000000",  # RTM_NEWROUTE, REQUEST|ACK|REPLACE|CREATE
        "02 18 00 00 fe 4d 00 01 00000000",  # AF_INET /24, table main, proto 77, unicast
        "0800 0100 0af40200",  # RTA_DST
        "0800 0500 0afa0015",  # RTA_GATEWAY
    )


def test_default_route_has_no_destination() -> None:
    msg = rtnl.new_route(1, "0.0.0.0", 0, "10.244.1.1", replace=False)
    assert msg == h(
        "24000000 1800 0506 01000000 00000000",  # create exclusive
        "02 00 00 00 fe 03 00 01 00000000",  # /0, proto boot
        "0800 0500 0af40101",
    )


def test_delete_route() -> None:
    assert rtnl.del_route(9, "10.244.2.0", 24, proto=77) == h(
        "24000000 1900 0500 09000000 00000000",  # RTM_DELROUTE
        "02 18 00 00 fe 4d ff 01 00000000",  # scope nowhere: match any scope
        "0800 0100 0af40200",
    )


def test_dump_routes() -> None:
    assert rtnl.dump_routes(2) == h(
        "1c000000 1a00 0103 02000000 00000000",  # RTM_GETROUTE, REQUEST|DUMP
        "02 00 00 00 fe 00 00 01 00000000",
    )


# -- decoding --------------------------------------------------------------------------------


def kernel_route(dst: str, dst_len: int, gw: str | None, proto: int, table: int) -> bytes:
    body = struct.pack("=BBBBBBBBI", 2, dst_len, 0, 0, min(table, 252), proto, 0, 1, 0)
    body += rtnl.attr_u32(rtnl.RTA_TABLE, table)
    if dst_len:
        body += rtnl.attr_ip(rtnl.RTA_DST, dst)
    if gw:
        body += rtnl.attr_ip(rtnl.RTA_GATEWAY, gw)
    body += rtnl.attr_u32(4, 2)  # RTA_OIF: ignored
    return body


def test_dump_reply_is_split_and_routes_parsed() -> None:
    flags = rtnl.NLM_F_MULTI
    data = rtnl.message(
        rtnl.RTM_NEWROUTE, flags, 2, kernel_route("10.244.2.0", 24, "10.250.0.21", 77, 254)
    )
    data += rtnl.message(
        rtnl.RTM_NEWROUTE, flags, 2, kernel_route("0.0.0.0", 0, "10.250.0.1", 3, 254)
    )
    data += rtnl.message(rtnl.NLMSG_DONE, flags, 2, b"\0\0\0\0")
    got = list(rtnl.replies(data))
    assert [r.kind for r in got] == [rtnl.RTM_NEWROUTE, rtnl.RTM_NEWROUTE, rtnl.NLMSG_DONE]
    assert rtnl.route_of(got[0].body) == rtnl.Route("10.244.2.0", 24, "10.250.0.21", 77, 254)
    assert rtnl.route_of(got[1].body) == rtnl.Route("0.0.0.0", 0, "10.250.0.1", 3, 254)


def test_route_table_comes_from_the_attribute_when_present() -> None:
    body = kernel_route("10.0.0.0", 8, None, 2, 1000)
    assert rtnl.route_of(body) == rtnl.Route("10.0.0.0", 8, None, 2, 1000)


def test_truncated_datagram_is_an_error() -> None:
    data = rtnl.get_link(1, "cbr0")
    with pytest.raises(ValueError, match="truncated"):
        list(rtnl.replies(data[:-4]))


def test_link_index_from_newlink() -> None:
    body = h("00 00 0100 2a000000 43100100 00000000") + rtnl.attr_str(rtnl.IFLA_IFNAME, "x")
    assert rtnl.link_index(body) == 42


def test_ack_and_plain_error() -> None:
    echoed = rtnl.get_link(1, "cbr0")[:16]
    assert rtnl.error_of(0, struct.pack("=i", 0) + echoed) == (0, "")
    assert rtnl.error_of(0, struct.pack("=i", -errno.ENODEV) + echoed) == (errno.ENODEV, "")


def test_extended_ack_message_after_capped_request() -> None:
    echoed = rtnl.get_link(1, "cbr0")[:16]
    body = struct.pack("=i", -errno.EINVAL) + echoed
    body += rtnl.attr_str(rtnl.NLMSGERR_ATTR_MSG, "Unknown device type")
    flags = rtnl.NLM_F_CAPPED | rtnl.NLM_F_ACK_TLVS
    assert rtnl.error_of(flags, body) == (errno.EINVAL, "Unknown device type")


def test_extended_ack_message_after_full_request() -> None:
    request = rtnl.get_link(1, "cbr0")
    body = struct.pack("=i", -errno.EINVAL) + request
    body += rtnl.attr_str(rtnl.NLMSGERR_ATTR_MSG, "bad name")
    assert rtnl.error_of(rtnl.NLM_F_ACK_TLVS, body) == (errno.EINVAL, "bad name")


def test_netlink_error_is_an_oserror_with_errno() -> None:
    exc = rtnl.NetlinkError(errno.EEXIST, "add bridge cbr0", "already there")
    assert isinstance(exc, OSError)
    assert exc.errno == errno.EEXIST
    assert str(exc) == "[Errno 17] add bridge cbr0: File exists (already there)"
