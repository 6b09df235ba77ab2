"""A small rtnetlink client: exactly the link, address and route requests the kubelet sends.

Standard library only (socket.AF_NETLINK + struct), so the kubelet does not load pyroute2
(~23 MB resident in a Python process). Message layouts are the kernel's: rtnetlink(7),
<linux/netlink.h>, <linux/rtnetlink.h>, <linux/if_link.h>, <linux/veth.h>, <linux/if_addr.h>.

Two halves: pure functions that build request bytes and parse reply bytes (tested against
golden bytes, no socket), and `RtnlSocket`, the edge that sends a request and waits for its
reply. A socket is bound to the network namespace of the thread that opened it (see
`network.entered`), so it keeps talking to that namespace after the thread steps out.

Errors: a kernel NLMSG_ERROR becomes `NetlinkError`, an OSError carrying the errno (and the
kernel's extended-ack message when it sends one). This module does not decide which errors
are harmless: callers do (EEXIST on create, ENODEV on delete).
"""

from __future__ import annotations

import errno as _errno
import ipaddress
import os
import socket
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

# <linux/netlink.h>
NETLINK_ROUTE = 0
NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_ACK = 0x4
NLM_F_DUMP = 0x300
NLM_F_REPLACE = 0x100
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLM_F_CAPPED = 0x100  # on NLMSG_ERROR: only the request's header is echoed
NLM_F_ACK_TLVS = 0x200  # on NLMSG_ERROR: extended-ack attributes follow
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLMSGERR_ATTR_MSG = 1
NLA_F_NESTED = 0x8000
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11

# <linux/rtnetlink.h>
RTM_NEWLINK = 16
RTM_DELLINK = 17
RTM_GETLINK = 18
RTM_SETLINK = 19
RTM_NEWADDR = 20
RTM_NEWROUTE = 24
RTM_DELROUTE = 25
RTM_GETROUTE = 26
RT_TABLE_MAIN = 254
RTPROT_BOOT = 3
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_NOWHERE = 255
RTN_UNICAST = 1
RTA_DST = 1
RTA_GATEWAY = 5
RTA_TABLE = 15

# <linux/if_link.h>, <linux/veth.h>, <linux/if_addr.h>, <linux/if_bridge.h>
IFF_UP = 0x1
IFLA_IFNAME = 3
IFLA_MASTER = 10
IFLA_PROTINFO = 12
IFLA_LINKINFO = 18
IFLA_NET_NS_FD = 28
IFLA_INFO_KIND = 1
IFLA_INFO_DATA = 2
VETH_INFO_PEER = 1
IFLA_BRPORT_MODE = 4  # hairpin mode of a bridge port
IFA_ADDRESS = 1
IFA_LOCAL = 2
AF_BRIDGE = 7

DEFAULT_DST = str(ipaddress.IPv4Address(0))  # a default route's destination, with length 0

_NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_IFINFOMSG = struct.Struct("=BxHiII")  # family, type, index, flags, change
_IFADDRMSG = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
_RTMSG = struct.Struct(
    "=BBBBBBBBI"
)  # family, dst_len, src_len, tos, table, proto, scope, type, flags
_RTATTR = struct.Struct("=HH")  # len, type
_ERRNO = struct.Struct("=i")
_U32 = struct.Struct("=I")


class NetlinkError(OSError):
    """The kernel refused a request: `errno` says why (EEXIST, ENODEV, EPERM ...)."""

    def __init__(self, code: int, request: str, detail: str = "") -> None:
        text = os.strerror(code) + (f" ({detail})" if detail else "")
        super().__init__(code, f"{request}: {text}")
        self.request = request
        self.detail = detail


# -- encoding (pure) -------------------------------------------------------------------------


def _align(n: int) -> int:
    return (n + 3) & ~3


def attr(kind: int, payload: bytes) -> bytes:
    """One rtattr: header, payload, zero padding to 4 bytes."""
    size = _RTATTR.size + len(payload)
    return _RTATTR.pack(size, kind) + payload + b"\0" * (_align(size) - size)


def nested(kind: int, *attrs: bytes) -> bytes:
    return attr(kind | NLA_F_NESTED, b"".join(attrs))


def attr_str(kind: int, text: str) -> bytes:
    return attr(kind, text.encode() + b"\0")


def attr_u32(kind: int, value: int) -> bytes:
    return attr(kind, _U32.pack(value))


def attr_ip(kind: int, address: str) -> bytes:
    return attr(kind, ipaddress.IPv4Address(address).packed)


def message(kind: int, flags: int, seq: int, body: bytes) -> bytes:
    """A netlink message: header (port id 0, the kernel fills in ours) and body."""
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), kind, flags, seq, 0) + body


def ifinfo(index: int = 0, *, family: int = socket.AF_UNSPEC, up: bool | None = None) -> bytes:
    flags = IFF_UP if up else 0
    change = IFF_UP if up is not None else 0
    return _IFINFOMSG.pack(family, 0, index, flags, change)


def get_link(seq: int, name: str) -> bytes:
    return message(RTM_GETLINK, NLM_F_REQUEST, seq, ifinfo() + attr_str(IFLA_IFNAME, name))


def new_bridge(seq: int, name: str) -> bytes:
    body = ifinfo() + attr_str(IFLA_IFNAME, name)
    body += nested(IFLA_LINKINFO, attr_str(IFLA_INFO_KIND, "bridge"))
    return message(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, seq, body)


def new_veth(
    seq: int,
    name: str,
    peer: str,
    peer_netns_fd: int | None = None,
    *,
    master: int | None = None,
    up: bool = False,
) -> bytes:
    """A veth pair `name` <-> `peer`, the peer created in the namespace `peer_netns_fd`. With
    `master` the end `name` is enslaved to that bridge and with `up` it comes up, in the same
    request. (Not the peer: the kernel configures it before the pair is joined, and a veth
    without its peer cannot come up: ENOTCONN.)"""
    peer_body = ifinfo() + attr_str(IFLA_IFNAME, peer)
    if peer_netns_fd is not None:
        peer_body += attr_u32(IFLA_NET_NS_FD, peer_netns_fd)
    body = ifinfo(up=True if up else None) + attr_str(IFLA_IFNAME, name)
    if master is not None:
        body += attr_u32(IFLA_MASTER, master)
    body += nested(
        IFLA_LINKINFO,
        attr_str(IFLA_INFO_KIND, "veth"),
        nested(IFLA_INFO_DATA, attr(VETH_INFO_PEER, peer_body)),
    )
    return message(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, seq, body)


def set_link(seq: int, index: int, *, up: bool | None = None, master: int | None = None) -> bytes:
    body = ifinfo(index, up=up)
    if master is not None:
        body += attr_u32(IFLA_MASTER, master)
    return message(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq, body)


def set_hairpin(seq: int, index: int, on: bool = True) -> bytes:
    """Hairpin mode of bridge port `index` (`bridge link set dev X hairpin on`)."""
    body = ifinfo(index, family=AF_BRIDGE)
    body += nested(IFLA_PROTINFO, attr(IFLA_BRPORT_MODE, bytes([int(on)])))
    return message(RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK, seq, body)


def del_link(seq: int, *, index: int = 0, name: str = "") -> bytes:
    body = ifinfo(index) + (attr_str(IFLA_IFNAME, name) if name else b"")
    return message(RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, seq, body)


def new_addr(seq: int, index: int, address: str, prefixlen: int) -> bytes:
    body = _IFADDRMSG.pack(socket.AF_INET, prefixlen, 0, RT_SCOPE_UNIVERSE, index)
    body += attr_ip(IFA_LOCAL, address) + attr_ip(IFA_ADDRESS, address)
    return message(RTM_NEWADDR, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, seq, body)


def _rtmsg(dst_len: int, proto: int, scope: int = RT_SCOPE_UNIVERSE) -> bytes:
    return _RTMSG.pack(socket.AF_INET, dst_len, 0, 0, RT_TABLE_MAIN, proto, scope, RTN_UNICAST, 0)


def new_route(
    seq: int, dst: str, dst_len: int, gateway: str, *, proto: int = RTPROT_BOOT, replace: bool
) -> bytes:
    """An IPv4 unicast route in the main table; `replace` overwrites one to the same dst."""
    body = _rtmsg(dst_len, proto)
    if dst_len:
        body += attr_ip(RTA_DST, dst)
    body += attr_ip(RTA_GATEWAY, gateway)
    flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE
    flags |= NLM_F_REPLACE if replace else NLM_F_EXCL
    return message(RTM_NEWROUTE, flags, seq, body)


def del_route(seq: int, dst: str, dst_len: int, *, proto: int) -> bytes:
    body = _rtmsg(dst_len, proto, RT_SCOPE_NOWHERE)
    if dst_len:
        body += attr_ip(RTA_DST, dst)
    return message(RTM_DELROUTE, NLM_F_REQUEST | NLM_F_ACK, seq, body)


def dump_routes(seq: int) -> bytes:
    return message(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, seq, _rtmsg(0, 0))


# -- decoding (pure) -------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    kind: int
    flags: int
    seq: int
    body: bytes


@dataclass(frozen=True)
class Route:
    """An IPv4 route as the kernel reports it (dst "0.0.0.0/0" for a default route)."""

    dst: str
    dst_len: int
    gateway: str | None
    proto: int
    table: int


def replies(data: bytes) -> Iterator[Reply]:
    """Split one datagram into its netlink messages."""
    offset = 0
    while offset + _NLMSGHDR.size <= len(data):
        size, kind, flags, seq, _ = _NLMSGHDR.unpack_from(data, offset)
        if size < _NLMSGHDR.size or offset + size > len(data):
            raise ValueError(f"truncated netlink message at offset {offset}: length {size}")
        yield Reply(kind, flags, seq, data[offset + _NLMSGHDR.size : offset + size])
        offset += _align(size)


def attrs(data: bytes) -> dict[int, bytes]:
    """Top-level attributes of a body (after its fixed header) by type; nested flag cleared."""
    out: dict[int, bytes] = {}
    offset = 0
    while offset + _RTATTR.size <= len(data):
        size, kind = _RTATTR.unpack_from(data, offset)
        if size < _RTATTR.size:
            break
        out[kind & ~NLA_F_NESTED] = data[offset + _RTATTR.size : offset + size]
        offset += _align(size)
    return out


def error_of(flags: int, body: bytes) -> tuple[int, str]:
    """(errno, extended-ack message) of an NLMSG_ERROR with header `flags`; errno 0 is an
    acknowledgement. The body is the error code, the echoed request (only its header when
    NLM_F_CAPPED), then, with NLM_F_ACK_TLVS, attributes such as the kernel's message."""
    (code,) = _ERRNO.unpack_from(body)
    if not flags & NLM_F_ACK_TLVS or len(body) < _ERRNO.size + _NLMSGHDR.size:
        return -code, ""
    echoed = _NLMSGHDR.size if flags & NLM_F_CAPPED else _NLMSGHDR.unpack_from(body, _ERRNO.size)[0]
    tlvs = attrs(body[_ERRNO.size + _align(echoed) :])
    detail = tlvs.get(NLMSGERR_ATTR_MSG, b"").rstrip(b"\0").decode(errors="replace")
    return -code, detail


def link_index(body: bytes) -> int:
    """The interface index in an RTM_NEWLINK body."""
    return int(_IFINFOMSG.unpack_from(body)[2])


def route_of(body: bytes) -> Route:
    """An RTM_NEWROUTE body (IPv4) as a Route."""
    _fam, dst_len, _src, _tos, table, proto, _scope, _type, _flags = _RTMSG.unpack_from(body)
    a = attrs(body[_RTMSG.size :])
    if RTA_TABLE in a:
        table = _U32.unpack(a[RTA_TABLE][:4])[0]
    dst = str(ipaddress.IPv4Address(a[RTA_DST])) if RTA_DST in a else DEFAULT_DST
    gw = str(ipaddress.IPv4Address(a[RTA_GATEWAY])) if RTA_GATEWAY in a else None
    return Route(dst, dst_len, gw, proto, table)


# -- the socket (edge) -----------------------------------------------------------------------


class RtnlSocket:
    """One NETLINK_ROUTE socket in the namespace of the thread that opens it. Not thread-safe:
    each caller opens its own (a socket costs one syscall)."""

    BUFSIZE = 1 << 16

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 0)
        try:
            self.sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
            self.sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
        except OSError:
            pass  # old kernels: errors come without a message
        self.sock.bind((0, 0))
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RtnlSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def _exchange(self, request: bytes, what: str) -> Iterator[Reply]:
        """Send `request`; yield its replies until an ack, an NLMSG_DONE or a single answer."""
        seq = _NLMSGHDR.unpack_from(request)[3]
        self.sock.send(request)
        while True:
            data = self.sock.recv(self.BUFSIZE)
            for reply in replies(data):
                if reply.seq != seq:
                    continue  # a late answer to an earlier, abandoned request
                if reply.kind == NLMSG_ERROR:
                    code, detail = error_of(reply.flags, reply.body)
                    if code:
                        raise NetlinkError(code, what, detail)
                    return
                if reply.kind == NLMSG_DONE:
                    return
                yield reply
                if not reply.flags & NLM_F_MULTI:
                    return

    def request(
        self, build: Callable[..., bytes], *args: object, what: str, **kwargs: object
    ) -> list[Reply]:
        """Send the message `build(seq, *args, **kwargs)` and collect its replies."""
        msg = build(self._next(), *args, **kwargs)
        return list(self._exchange(msg, what))

    # -- the operations, one request each ----------------------------------------------------

    def link_index(self, name: str) -> int:
        """The index of link `name` (NetlinkError ENODEV if there is none)."""
        got = self.request(get_link, name, what=f"get link {name}")
        if not got:
            raise NetlinkError(_errno.ENODEV, f"get link {name}")
        return link_index(got[0].body)

    def add_bridge(self, name: str) -> None:
        self.request(new_bridge, name, what=f"add bridge {name}")

    def add_veth(
        self,
        name: str,
        peer: str,
        peer_netns: str | None = None,
        *,
        master: int | None = None,
        up: bool = False,
    ) -> None:
        """Create veth `name` here and its peer `peer` in the namespace at path `peer_netns`
        (see `new_veth` for `master` and `up`)."""
        what = f"add veth {name} peer {peer}" + (f" in {peer_netns}" if peer_netns else "")
        if peer_netns is None:
            self.request(new_veth, name, peer, master=master, up=up, what=what)
            return
        fd = os.open(peer_netns, os.O_RDONLY | os.O_CLOEXEC)
        try:
            self.request(new_veth, name, peer, fd, master=master, up=up, what=what)
        finally:
            os.close(fd)

    def set_link(self, index: int, *, up: bool | None = None, master: int | None = None) -> None:
        self.request(set_link, index, up=up, master=master, what=f"set link {index}")

    def set_hairpin(self, index: int, on: bool = True) -> None:
        self.request(set_hairpin, index, on, what=f"set hairpin link {index}")

    def del_link(self, name: str) -> None:
        self.request(del_link, name=name, what=f"delete link {name}")

    def add_addr(self, index: int, address: str, prefixlen: int) -> None:
        what = f"add address {address}/{prefixlen} link {index}"
        self.request(new_addr, index, address, prefixlen, what=what)

    def add_route(self, dst: str, dst_len: int, gateway: str, *, proto: int = RTPROT_BOOT) -> None:
        what = f"add route {dst}/{dst_len} via {gateway}"
        self.request(new_route, dst, dst_len, gateway, proto=proto, replace=False, what=what)

    def replace_route(self, dst: str, dst_len: int, gateway: str, *, proto: int) -> None:
        what = f"replace route {dst}/{dst_len} via {gateway}"
        self.request(new_route, dst, dst_len, gateway, proto=proto, replace=True, what=what)

    def del_route(self, dst: str, dst_len: int, *, proto: int) -> None:
        self.request(del_route, dst, dst_len, proto=proto, what=f"delete route {dst}/{dst_len}")

    def routes(self) -> list[Route]:
        """Every IPv4 route of every table."""
        return [
            route_of(r.body)
            for r in self.request(dump_routes, what="dump routes")
            if r.kind == RTM_NEWROUTE
        ]
