"""Assembly of one apiserver process: store, handlers, PKI, REST and gRPC front ends.

`ApiserverConfig` holds the flag values; `Apiserver(config).start()` brings everything up and
`stop()` tears it down (used by `__main__` and by tests that run the apiserver in-process).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from controlplane.apiserver.certs import Pki, ensure_pki
from controlplane.apiserver.grpc_api import GrpcFrontEnd
from controlplane.apiserver.handlers import Handlers
from controlplane.apiserver.kubelet_proxy import KubeletProxy
from controlplane.apiserver.rest import ApiServer, server_ssl_context
from controlplane.apiserver.storage import EtcdStore
from kubelab.api import errors

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ApiserverConfig:
    etcd_servers: tuple[str, ...]
    cert_dir: Path
    bind_address: str = "127.0.0.1"
    secure_port: int = 6443
    grpc_port: int = 6444
    advertise_address: str = ""
    service_cluster_ip_range: str = "10.96.0.0/12"
    tls_sans: tuple[str, ...] = field(default_factory=tuple)
    bookmark_interval: float = 10.0
    watch_cache_size: int = 4096
    grpc_max_workers: int = 8
    store_wait_seconds: float = 60.0
    event_ttl: int = 3600
    # The client certificate presented to kubelets (default: the cert dir's own pair).
    kubelet_client_certificate: Path | None = None
    kubelet_client_key: Path | None = None


class Apiserver:
    def __init__(self, config: ApiserverConfig) -> None:
        self.config = config
        self.store = EtcdStore(list(config.etcd_servers))
        self.handlers = Handlers(
            self.store,
            bookmark_interval=config.bookmark_interval,
            cache_capacity=config.watch_cache_size,
            event_ttl=config.event_ttl,
        )
        self.pki: Pki | None = None
        self.rest: ApiServer | None = None
        self.grpc: GrpcFrontEnd | None = None
        self._threads: list[threading.Thread] = []

    @property
    def rest_port(self) -> int:
        assert self.rest is not None
        return int(self.rest.server_address[1])

    @property
    def grpc_port(self) -> int:
        assert isinstance(self.grpc, GrpcFrontEnd)
        return self.grpc.port

    def start(self) -> None:
        cfg = self.config
        host = cfg.advertise_address or (
            "127.0.0.1" if cfg.bind_address in ("0.0.0.0", "::") else cfg.bind_address  # noqa: S104
        )
        addresses = (cfg.bind_address, host, *cfg.tls_sans)
        # Bind first so that port 0 (tests) is known before the kubeconfig is written.
        self.rest = ApiServer((cfg.bind_address, cfg.secure_port), self.handlers, ssl_context=None)
        self.pki = ensure_pki(
            cfg.cert_dir,
            addresses=addresses,
            service_cidr=cfg.service_cluster_ip_range,
            server_url=f"https://{host}:{self.rest_port}",
        )
        self._wait_for_store()
        self.rest.kubelet_proxy = KubeletProxy(
            cfg.kubelet_client_certificate or self.pki.kubelet_client_cert,
            cfg.kubelet_client_key or self.pki.kubelet_client_key,
        )
        self.rest.ssl_context = server_ssl_context(
            self.pki.serving_cert, self.pki.serving_key, self.pki.ca_cert
        )
        t = threading.Thread(target=self.rest.serve_forever, daemon=True, name="rest")
        t.start()
        self._threads.append(t)
        self.grpc = GrpcFrontEnd(
            self.handlers,
            self.pki,
            cfg.bind_address,
            cfg.grpc_port,
            max_workers=cfg.grpc_max_workers,
        )
        self.grpc.start()
        log.info(
            "apiserver serving rest=https://%s:%s grpc=%s:%s etcd=%s",
            cfg.bind_address,
            self.rest_port,
            cfg.bind_address,
            self.grpc.port,
            ",".join(cfg.etcd_servers),
        )

    def _wait_for_store(self) -> None:
        """Create the system namespaces, waiting (with backoff) for the store to answer."""
        deadline = time.monotonic() + self.config.store_wait_seconds
        delay = 0.2
        while True:
            try:
                self.handlers.ensure_system_namespaces()
                return
            except errors.ServiceUnavailable as exc:
                if time.monotonic() + delay > deadline:
                    raise
                log.warning("store not answering yet err=%s; retrying in %.1fs", exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def stop(self) -> None:
        if self.rest is not None:
            self.rest.shutdown()
            self.rest.server_close()
        if isinstance(self.grpc, GrpcFrontEnd):
            self.grpc.stop()
        self.handlers.close()
        self.store.close()
