"""The netlink edge: links, addresses, routes and qdiscs through pyroute2, nothing decided here.

One `IPRoute` socket per namespace, opened inside it (see `nsfs.entered`) and kept in a small
cache, so a large lab needs no subprocess per object. Creating what exists and deleting what is
gone are successes (EEXIST / ENODEV / ESRCH), which makes every caller idempotent.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
from collections import OrderedDict
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from netlab import nsfs

log = logging.getLogger(__name__)

_GONE = (errno.ENODEV, errno.ESRCH, errno.ENOENT, errno.EADDRNOTAVAIL)


class Rtnl:
    """Netlink sockets by namespace (None is the root namespace), at most `keep` open at once."""

    def __init__(self, keep: int = 32) -> None:
        self._socks: OrderedDict[str | None, Any] = OrderedDict()
        self._keep = keep
        # (netns, ifname) -> ifindex; valid while this object lives, dropped on delete.
        self._indexes: dict[tuple[str | None, str], int] = {}

    def __enter__(self) -> Rtnl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        while self._socks:
            _, sock = self._socks.popitem()
            sock.close()

    def forget(self, netns: str | None) -> None:
        self._indexes = {k: v for k, v in self._indexes.items() if k[0] != netns}
        sock = self._socks.pop(netns, None)
        if sock is not None:
            sock.close()

    def ipr(self, netns: str | None) -> Any:
        sock = self._socks.get(netns)
        if sock is not None:
            self._socks.move_to_end(netns)
            return sock
        with nsfs.entered(netns):
            # No multicast groups: notifications would only queue up and be parsed for nothing.
            sock = IPRoute(groups=0)
        self._socks[netns] = sock
        if len(self._socks) > self._keep:
            _, old = self._socks.popitem(last=False)
            old.close()
        return sock

    def index(self, netns: str | None, ifname: str) -> int | None:
        # A direct RTM_GETLINK by name: link_lookup() would dump every link, which makes a
        # bridge with hundreds of ports quadratic.
        key = (netns, ifname)
        if key in self._indexes:
            return self._indexes[key]
        try:
            found = self.ipr(netns).link("get", ifname=ifname)
        except NetlinkError as exc:
            if exc.code in _GONE:
                return None
            raise
        self._indexes[key] = index = int(found[0]["index"])
        return index

    def _index(self, netns: str | None, ifname: str) -> int:
        idx = self.index(netns, ifname)
        if idx is None:
            raise OSError(errno.ENODEV, f"no interface {ifname!r} in {netns or 'root'}")
        return idx

    # --- links -----------------------------------------------------------------------------

    def add_bridge(self, netns: str | None, ifname: str) -> bool:
        return self._add(netns, ifname, kind="bridge")

    def add_veth(
        self,
        netns: str | None,
        ifname: str,
        peer_netns: str | None,
        peer: str,
        master: str | None = None,
    ) -> bool:
        """Create a veth pair; `master` attaches this end to a bridge and sets it up at once
        (one message instead of three: a bridge recomputes over all its ports on each)."""
        extra: dict[str, Any] = {}
        if master is not None:
            extra = {"master": self._index(netns, master), "state": "up"}
        spec: dict[str, Any] = {"ifname": peer}
        fd = None
        if peer_netns != netns:
            fd = nsfs.open_fd(peer_netns) if peer_netns else os.open("/proc/1/ns/net", os.O_RDONLY)
            spec["net_ns_fd"] = fd
        try:
            return self._add(netns, ifname, kind="veth", peer=spec, **extra)
        finally:
            if fd is not None:
                os.close(fd)

    def add_vxlan(
        self,
        netns: str | None,
        ifname: str,
        *,
        vni: int,
        remote: str,
        local: str | None,
        dev: str | None,
        port: int,
    ) -> bool:
        spec: dict[str, Any] = {"vxlan_id": vni, "vxlan_group": remote, "vxlan_port": port}
        if local:
            spec["vxlan_local"] = local
        if dev:
            spec["vxlan_link"] = self._index(netns, dev)
        return self._add(netns, ifname, kind="vxlan", **spec)

    def _add(self, netns: str | None, ifname: str, **spec: Any) -> bool:
        try:
            self.ipr(netns).link("add", ifname=ifname, **spec)
        except NetlinkError as exc:
            if exc.code == errno.EEXIST:
                return False
            raise
        return True

    def delete(self, netns: str | None, ifname: str) -> bool:
        idx = self.index(netns, ifname)
        if idx is None:
            return False
        self._indexes.pop((netns, ifname), None)
        try:
            self.ipr(netns).link("del", index=idx)
        except NetlinkError as exc:
            if exc.code in _GONE:
                return False
            raise
        return True

    def set(self, netns: str | None, ifname: str, **attrs: Any) -> None:
        self.ipr(netns).link("set", index=self._index(netns, ifname), **attrs)

    def set_master(self, netns: str | None, ifname: str, master: str) -> None:
        self.set(netns, ifname, master=self._index(netns, master))

    def links(self, netns: str | None) -> list[Any]:
        return list(self.ipr(netns).get_links())

    # --- addresses and routes ----------------------------------------------------------------

    def add_address(self, netns: str | None, ifname: str, cidr: str) -> bool:
        iface = ipaddress.ip_interface(cidr)
        try:
            self.ipr(netns).addr(
                "add",
                index=self._index(netns, ifname),
                address=str(iface.ip),
                prefixlen=iface.network.prefixlen,
            )
        except NetlinkError as exc:
            if exc.code == errno.EEXIST:
                return False
            raise
        return True

    def del_address(self, netns: str | None, ifname: str, cidr: str) -> None:
        iface = ipaddress.ip_interface(cidr)
        idx = self.index(netns, ifname)
        if idx is None:
            return
        try:
            self.ipr(netns).addr(
                "del", index=idx, address=str(iface.ip), prefixlen=iface.network.prefixlen
            )
        except NetlinkError as exc:
            if exc.code not in _GONE:
                raise

    def add_route(self, netns: str | None, dst: str, via: str | None, dev: str | None) -> bool:
        spec: dict[str, Any] = {"dst": dst}
        if via:
            spec["gateway"] = via
        if dev:
            spec["oif"] = self._index(netns, dev)
        try:
            self.ipr(netns).route("add", **spec)
        except NetlinkError as exc:
            if exc.code == errno.EEXIST:
                return False
            raise
        return True

    def del_route(self, netns: str | None, dst: str) -> None:
        try:
            self.ipr(netns).route("del", dst=dst)
        except NetlinkError as exc:
            if exc.code not in _GONE:
                raise

    def addresses(self, netns: str | None) -> list[Any]:
        return list(self.ipr(netns).get_addr())

    def routes(self, netns: str | None) -> list[Any]:
        return list(self.ipr(netns).get_routes(family=2))

    # --- qdiscs ----------------------------------------------------------------------------

    def set_tbf(self, netns: str | None, ifname: str, rate: str, burst: int, latency: str) -> None:
        idx = self._index(netns, ifname)
        self.clear_qdisc(netns, ifname)
        self.ipr(netns).tc(
            "add", "tbf", index=idx, handle="1:", rate=rate, burst=burst, latency=latency
        )

    def add_netem(self, netns: str | None, ifname: str, delay_us: int, jitter_us: int) -> None:
        idx = self._index(netns, ifname)
        self.clear_qdisc(netns, ifname)
        self.ipr(netns).tc("add", "netem", index=idx, handle="1:", delay=delay_us, jitter=jitter_us)

    def clear_qdisc(self, netns: str | None, ifname: str) -> None:
        idx = self.index(netns, ifname)
        if idx is None:
            return
        try:
            self.ipr(netns).tc("del", index=idx, handle="1:", root=True)
        except NetlinkError as exc:
            if exc.code not in (*_GONE, errno.EINVAL):
                raise

    def qdisc_kinds(self, netns: str | None, ifname: str) -> list[str]:
        idx = self._index(netns, ifname)
        return [q.get_attr("TCA_KIND") for q in self.ipr(netns).get_qdiscs(index=idx)]


def write_sysctl(netns: str | None, key: str, value: str) -> None:
    """Set a per-namespace sysctl (`net.ipv4.ip_forward`) inside `netns`."""
    with nsfs.entered(netns), open("/proc/sys/" + key.replace(".", "/"), "w") as fh:
        fh.write(value)
