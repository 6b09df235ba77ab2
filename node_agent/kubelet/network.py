"""Pod networking, natively (the CNI bridge model), through the small rtnetlink client `rtnl`.

Per node: a bridge (default `cbr0`) holding the pod CIDR's first address, IPv4 forwarding on,
and one route per other node's pod CIDR (`sync_routes`, marked with kubelab's route protocol
number so only our routes are ever replaced or deleted). Per pod: a named network namespace
`<netns_prefix><uid>`, a veth pair with `eth0` inside (address from the host-local IPAM, `lo`
up, default route via the bridge) and the host end `<veth_prefix><hash>` on the bridge with
hairpin on. `teardown` removes all of it and releases the address; every step tolerates the
object being already there (setup) or already gone (teardown), so both can be retried.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from node_agent.kubelet.errors import NetworkError
from node_agent.kubelet.ipam import HostLocalIPAM, Network, gateway
from node_agent.kubelet.libc import MNT_DETACH, MS_BIND
from node_agent.kubelet.libc import check as _check
from node_agent.kubelet.libc import libc as _libc
from node_agent.kubelet.routes import PodRoute, route_diff
from node_agent.kubelet.rtnl import DEFAULT_DST, RT_TABLE_MAIN, NetlinkError, RtnlSocket

log = logging.getLogger(__name__)

NETNS_DIR = "/run/netns"
RT_PROTO_KUBELAB = 77  # route protocol number marking the routes this module owns
CLONE_NEWNET = 0x40000000
_UID = re.compile(r"^[0-9a-f][0-9a-f-]{15,35}$")  # a pod uid, as namespace names carry it
_GONE = (errno.ENODEV, errno.ESRCH, errno.ENOENT)  # deleting what is not there
LOOPBACK_INDEX = 1  # `lo` is the first link of every network namespace


@dataclass(frozen=True)
class Sandbox:
    netns: str
    ip: str
    host_veth: str

    @property
    def netns_path(self) -> str:
        return f"{NETNS_DIR}/{self.netns}"


class BridgeNetwork:
    def __init__(
        self,
        cidr: Network,
        ipam: HostLocalIPAM,
        *,
        bridge: str = "cbr0",
        netns_prefix: str = "kubelab-",
        veth_prefix: str = "veth",
    ) -> None:
        if len(bridge) > 15:
            raise NetworkError(f"--bridge {bridge!r} is longer than 15 characters")
        if len(veth_prefix) > 7:
            raise NetworkError(f"veth prefix {veth_prefix!r} is longer than 7 characters")
        self.cidr = cidr
        self.ipam = ipam
        self.bridge = bridge
        self.netns_prefix = netns_prefix
        self.veth_prefix = veth_prefix
        self._bridge: int | None = None  # see _bridge_index

    # -- names ---------------------------------------------------------------------------
    def netns_name(self, uid: str) -> str:
        return f"{self.netns_prefix}{uid}"

    def veth_name(self, uid: str) -> str:
        return (
            self.veth_prefix
            + hashlib.sha256(uid.encode()).hexdigest()[: 15 - len(self.veth_prefix)]
        )

    def sandbox_for(self, uid: str) -> Sandbox | None:
        """The pod's sandbox if its namespace exists and it holds an address."""
        name = self.netns_name(uid)
        if not os.path.exists(f"{NETNS_DIR}/{name}"):
            return None
        ip = self.ipam.lookup(uid)
        return Sandbox(name, ip, self.veth_name(uid)) if ip else None

    def pod_uids(self) -> set[str]:
        """Uids of every pod namespace this node has (found by prefix, for orphan cleanup)."""
        try:
            names = os.listdir(NETNS_DIR)
        except FileNotFoundError:
            return set()
        prefix = self.netns_prefix
        return {
            n[len(prefix) :] for n in names if n.startswith(prefix) and _UID.match(n[len(prefix) :])
        }

    # -- node ----------------------------------------------------------------------------
    def ensure_node(self) -> None:
        gw = str(gateway(self.cidr))
        self._bridge = None
        try:
            with RtnlSocket() as nl:
                _tolerate(nl.add_bridge, self.bridge)
                idx = nl.link_index(self.bridge)
                _tolerate(nl.add_addr, idx, gw, self.cidr.prefixlen)
                nl.set_link(idx, up=True)
        except NetlinkError as exc:
            raise NetworkError(f"bridge {self.bridge} {gw}/{self.cidr.prefixlen}: {exc}") from exc
        try:
            with open("/proc/sys/net/ipv4/ip_forward", "r+") as f:
                if f.read().strip() != "1":
                    f.seek(0)
                    f.write("1")
        except OSError as exc:
            log.warning("cannot enable ip_forward err=%s", exc)

    def remove_bridge(self) -> None:
        self._bridge = None
        with RtnlSocket() as nl:
            _tolerate(nl.del_link, self.bridge)

    # -- pods ----------------------------------------------------------------------------
    def _bridge_index(self, nl: RtnlSocket) -> int:
        """The bridge's link index, looked up once (and again after a failed pod setup)."""
        index = self._bridge
        if index is None:
            index = self._bridge = nl.link_index(self.bridge)
        return index

    def setup(self, uid: str) -> Sandbox:
        name, veth = self.netns_name(uid), self.veth_name(uid)
        path = f"{NETNS_DIR}/{name}"
        ip = str(self.ipam.allocate(uid))
        gw = str(gateway(self.cidr))
        try:
            if not os.path.exists(path):
                create_netns(name)
            # Single-object requests only (no link dumps): their cost does not grow with pods.
            # Eight of them: the host end is created on the bridge and up, and `lo` has the
            # same index in every namespace.
            with RtnlSocket() as nl:
                bridge = self._bridge_index(nl)
                try:
                    nl.add_veth(veth, "eth0", path, master=bridge, up=True)
                    created = True
                except NetlinkError as exc:
                    self._bridge = None  # looked up again next time, in case it was the bridge
                    if exc.errno != errno.EEXIST:
                        raise
                    created = False  # left by an earlier try: set what creation would have
                idx = nl.link_index(veth)
                if not created:
                    nl.set_link(idx, master=bridge, up=True)
                nl.set_hairpin(idx)  # a pod reaches itself through a Service VIP
            with entered(path), RtnlSocket() as ns:
                ns.set_link(LOOPBACK_INDEX, up=True)
                eth0 = ns.link_index("eth0")
                _tolerate(ns.add_addr, eth0, ip, self.cidr.prefixlen)
                ns.set_link(eth0, up=True)
                _tolerate(ns.add_route, DEFAULT_DST, 0, gw)
        except OSError as exc:  # NetlinkError included
            raise NetworkError(f"pod network uid={uid} netns={name} ip={ip}: {exc}") from exc
        log.debug("pod network up uid=%s netns=%s ip=%s veth=%s", uid, name, ip, veth)
        return Sandbox(name, ip, veth)

    def teardown(self, uid: str) -> None:
        name, veth = self.netns_name(uid), self.veth_name(uid)
        try:
            with RtnlSocket() as nl:
                _tolerate(nl.del_link, veth)
            remove_netns(name)
        except OSError as exc:
            raise NetworkError(f"pod network teardown uid={uid} netns={name}: {exc}") from exc
        self.ipam.release(uid)
        log.info("pod network down uid=%s netns=%s", uid, name)

    # -- routes to other nodes -----------------------------------------------------------
    def present_routes(self) -> list[PodRoute]:
        with RtnlSocket() as nl:
            return [
                PodRoute(f"{r.dst}/{r.dst_len}", str(r.gateway))
                for r in nl.routes()
                if r.proto == RT_PROTO_KUBELAB and r.table == RT_TABLE_MAIN
            ]

    def sync_routes(self, desired: Iterable[PodRoute]) -> None:
        add, delete = route_diff(desired, self.present_routes())
        with RtnlSocket() as nl:
            for r in delete:
                dst, plen = r.cidr.split("/")
                _tolerate(nl.del_route, dst, int(plen), proto=RT_PROTO_KUBELAB)
            for r in add:
                dst, plen = r.cidr.split("/")
                try:
                    nl.replace_route(dst, int(plen), r.via, proto=RT_PROTO_KUBELAB)
                except NetlinkError as exc:
                    log.warning("route to pods cidr=%s via=%s failed err=%s", r.cidr, r.via, exc)


# Namespaces without forking: setns(2) and unshare(2) of CLONE_NEWNET act on the calling thread
# only, so a thread can step into a namespace, open a netlink socket there (it stays bound to
# that namespace) and step back. This is how CNI plugins work; pyroute2's own helpers fork the
# whole (threaded) kubelet instead, which is slower and runs our signal handlers in the child.


@contextmanager
def entered(path: str) -> Iterator[None]:
    """Run the body with the calling thread inside the network namespace at `path`."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(path, os.O_RDONLY)
        try:
            _check(_libc.setns(target, CLONE_NEWNET), f"setns {path}")
        finally:
            os.close(target)
        try:
            yield
        finally:
            _check(_libc.setns(own, CLONE_NEWNET), "setns back")
    finally:
        os.close(own)


def _share_netns_dir() -> None:
    """Make /run/netns a shared mount, as `ip netns add` does, so namespaces propagate."""
    os.makedirs(NETNS_DIR, exist_ok=True)
    if _libc.mount(b"", NETNS_DIR.encode(), b"none", 1 << 20 | 16384, None) != 0:  # SHARED|REC
        _check(_libc.mount(NETNS_DIR.encode(), NETNS_DIR.encode(), b"none", MS_BIND | 16384, None),
               "bind /run/netns")  # fmt: skip
        _check(_libc.mount(b"", NETNS_DIR.encode(), b"none", 1 << 20 | 16384, None), "share")


def create_netns(name: str) -> None:
    """Create a named network namespace (like `ip netns add`), without forking."""
    path = f"{NETNS_DIR}/{name}"
    if not os.path.isdir(NETNS_DIR):
        _share_netns_dir()
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        _check(_libc.unshare(CLONE_NEWNET), "unshare")
        try:
            with suppress(FileExistsError):
                os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
            _check(
                _libc.mount(b"/proc/thread-self/ns/net", path.encode(), b"none", MS_BIND, None),
                f"bind {path}",
            )
        finally:
            _check(_libc.setns(own, CLONE_NEWNET), "setns back")
    finally:
        os.close(own)


def remove_netns(name: str) -> None:
    path = f"{NETNS_DIR}/{name}"
    if not os.path.exists(path):
        return
    _libc.umount2(path.encode(), MNT_DETACH)
    with suppress(FileNotFoundError):
        os.unlink(path)


def _tolerate(fn: Callable[..., None], *args: object, **kwargs: object) -> None:
    """Run a netlink request; EEXIST on create and ENODEV/ESRCH/ENOENT on delete are success."""
    try:
        fn(*args, **kwargs)
    except NetlinkError as exc:
        if exc.errno != errno.EEXIST and exc.errno not in _GONE:
            raise
