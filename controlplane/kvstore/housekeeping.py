"""Background duties of a replica, as threads using the blocking `Backend.propose`:
the leader's lease expiry (`Lessor`) and publishing this member's client URLs (`Publisher`)."""

from __future__ import annotations

import logging
import threading
import time

from controlplane.kvstore import errors
from controlplane.kvstore.commands import LeaseExpire, PublishMember
from controlplane.kvstore.node import Node

log = logging.getLogger(__name__)


class Publisher:
    """Puts this member's name and client URLs into the log once (again after a change)."""

    def __init__(self, node: Node, period: float = 0.5) -> None:
        self.node = node
        self.period = period
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="kv-publish", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        config = self.node.config
        mine = (config.name, tuple(config.advertise_client_urls))
        command = PublishMember(self.node.member_id, *mine)
        while not self._stop.wait(self.period):
            if self.node.read(lambda s: s.members.get(self.node.member_id)) == mine:
                return
            try:
                result = self.node.backend.propose(command, self.node.request_timeout)
                if result.error is not None:
                    raise result.error
                log.info("published member=%x client_urls=%s", command.member_id, mine[1])
            except errors.KvError as exc:
                log.debug("publish not applied yet: %s", exc)


class Lessor:
    """On the leader only: proposes the expiry of leases past their deadline.

    Like etcd, a new leader first gives every lease a full TTL from the moment it took over,
    so a leader change never expires a lease whose keep-alives went to the old leader.
    """

    def __init__(self, node: Node, period: float = 0.25) -> None:
        self.node = node
        self.period = period
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="kv-lessor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        leader_since: float | None = None
        while not self._stop.wait(self.period):
            if not self.node.backend.status().is_leader:
                leader_since = None
                continue
            now = time.time()
            if leader_since is None:
                leader_since = now
            leases = self.node.read(
                lambda s: [(le.lease_id, le.deadline, le.ttl) for le in s.leases.values()]
            )
            for lease_id, deadline, ttl in leases:
                if deadline <= now and leader_since + ttl <= now:
                    try:
                        self.node.backend.propose(LeaseExpire(lease_id, at=now), 5.0)
                        log.info("lease expired lease=%x", lease_id)
                    except errors.KvError as exc:
                        log.info("lease expiry not applied lease=%x error=%s", lease_id, exc)
                        break
