"""The cluster's PKI: a CA, the apiserver's serving certificate, client certificates, kubeconfig.

`ensure_pki(cert_dir, ...)` is idempotent: an existing `ca.crt`/`ca.key` is reused (so several
apiservers share one CA), a missing serving or admin certificate is issued. Client certificates
carry the user in CN and the groups in O, as Kubernetes' x509 authenticator reads them.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

log = logging.getLogger(__name__)

CA_CERT, CA_KEY = "ca.crt", "ca.key"
SERVING_CERT, SERVING_KEY = "apiserver.crt", "apiserver.key"
ADMIN_CERT, ADMIN_KEY = "admin.crt", "admin.key"
ADMIN_KUBECONFIG = "admin.kubeconfig"
KUBELET_CLIENT_CERT, KUBELET_CLIENT_KEY = (
    "apiserver-kubelet-client.crt",
    "apiserver-kubelet-client.key",
)
VALIDITY = datetime.timedelta(days=3650)


@dataclass(frozen=True)
class Pki:
    dir: Path

    @property
    def ca_cert(self) -> Path:
        return self.dir / CA_CERT

    @property
    def serving_cert(self) -> Path:
        return self.dir / SERVING_CERT

    @property
    def serving_key(self) -> Path:
        return self.dir / SERVING_KEY

    @property
    def kubelet_client_cert(self) -> Path:
        return self.dir / KUBELET_CLIENT_CERT

    @property
    def kubelet_client_key(self) -> Path:
        return self.dir / KUBELET_CLIENT_KEY

    @property
    def admin_kubeconfig(self) -> Path:
        return self.dir / ADMIN_KUBECONFIG


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    """Write `data` to a temporary file beside `path`, then rename it over `path`.

    Other processes poll for these files (`kubelab up` waits for admin.kubeconfig, a second
    apiserver reuses the CA): they must see either no file or a whole one, never a partial one.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    _write_atomically(path, data, 0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    _write_atomically(path, cert.public_bytes(serialization.Encoding.PEM), 0o644)


def _load(cert_path: Path, key_path: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return cert, key


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def create_ca(
    common_name: str = "kubelab-ca",
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def issue(
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    common_name: str,
    *,
    organizations: tuple[str, ...] = (),
    dns_names: tuple[str, ...] = (),
    ip_addresses: tuple[str, ...] = (),
    server: bool = False,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    now = _now()
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(attrs))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def first_service_ip(service_cidr: str) -> str:
    net = ipaddress.ip_network(service_cidr, strict=False)
    return str(net.network_address + 1)


def serving_names(addresses: tuple[str, ...], service_cidr: str) -> tuple[set[str], set[str]]:
    """The DNS names and IPs the serving certificate must carry."""
    ips = {"127.0.0.1", first_service_ip(service_cidr)}
    dns = {
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    }
    for addr in addresses:
        try:
            ipaddress.ip_address(addr)
        except ValueError:
            dns.add(addr)
        else:
            if addr not in ("0.0.0.0", "::"):  # noqa: S104 - a bind address, not a SAN
                ips.add(addr)
    return dns, ips


def _names_of(cert_path: Path) -> tuple[set[str], set[str]]:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set(), set()
    dns = set(san.get_values_for_type(x509.DNSName))
    return dns, {str(i) for i in san.get_values_for_type(x509.IPAddress)}


def _covers(cert_path: Path, dns: set[str], ips: set[str]) -> bool:
    """Whether an existing serving certificate names every address this apiserver serves."""
    have_dns, have_ips = _names_of(cert_path)
    return dns <= have_dns and ips <= have_ips


def ensure_pki(
    cert_dir: Path,
    *,
    addresses: tuple[str, ...],
    service_cidr: str = "10.96.0.0/12",
    server_url: str = "https://127.0.0.1:6443",
    cluster_name: str = "kubelab",
) -> Pki:
    """Create whatever is missing in `cert_dir`; reuse what is there."""
    cert_dir.mkdir(parents=True, exist_ok=True)
    pki = Pki(cert_dir)
    if (cert_dir / CA_CERT).exists() and (cert_dir / CA_KEY).exists():
        ca, ca_key = _load(cert_dir / CA_CERT, cert_dir / CA_KEY)
    else:
        ca, ca_key = create_ca()
        _write_cert(cert_dir / CA_CERT, ca)
        _write_key(cert_dir / CA_KEY, ca_key)
        log.info("created cluster CA dir=%s", cert_dir)
    dns, ips = serving_names(addresses, service_cidr)
    if not (pki.serving_cert.exists() and pki.serving_key.exists()) or not _covers(
        pki.serving_cert, dns, ips
    ):
        if pki.serving_cert.exists():
            # Several apiservers sharing a directory: keep the names the others need too.
            old_dns, old_ips = _names_of(pki.serving_cert)
            dns, ips = dns | old_dns, ips | old_ips
        cert, key = issue(
            ca,
            ca_key,
            "kube-apiserver",
            dns_names=tuple(sorted(dns)),
            ip_addresses=tuple(sorted(ips)),
            server=True,
        )
        _write_cert(pki.serving_cert, cert)
        _write_key(pki.serving_key, key)
    if not (cert_dir / ADMIN_CERT).exists():
        cert, key = issue(ca, ca_key, "kubernetes-admin", organizations=("system:masters",))
        _write_cert(cert_dir / ADMIN_CERT, cert)
        _write_key(cert_dir / ADMIN_KEY, key)
    if not pki.kubelet_client_cert.exists():
        cert, key = issue(
            ca, ca_key, "kube-apiserver-kubelet-client", organizations=("system:masters",)
        )
        _write_cert(pki.kubelet_client_cert, cert)
        _write_key(pki.kubelet_client_key, key)
    if not pki.admin_kubeconfig.exists():
        write_kubeconfig(
            pki.admin_kubeconfig,
            server_url=server_url,
            ca_cert=cert_dir / CA_CERT,
            client_cert=cert_dir / ADMIN_CERT,
            client_key=cert_dir / ADMIN_KEY,
            cluster_name=cluster_name,
            user="kubernetes-admin",
        )
    return pki


def issue_client_cert(
    cert_dir: Path, user: str, groups: tuple[str, ...], out_prefix: Path
) -> tuple[Path, Path]:
    """Issue a client certificate from the CA in `cert_dir`; returns (cert, key) paths."""
    ca, ca_key = _load(cert_dir / CA_CERT, cert_dir / CA_KEY)
    cert, key = issue(ca, ca_key, user, organizations=groups)
    cert_path, key_path = out_prefix.with_suffix(".crt"), out_prefix.with_suffix(".key")
    _write_cert(cert_path, cert)
    _write_key(key_path, key)
    return cert_path, key_path


def write_component_credentials(
    cert_dir: Path,
    name: str,
    *,
    user: str,
    groups: tuple[str, ...],
    server_url: str,
    cluster_name: str = "kubelab",
) -> Path:
    """`<name>.crt/.key` (CN = user, O = groups) and `<name>.kubeconfig` for one component.

    E.g. ("scheduler", "system:kube-scheduler", ()) or ("node-1", "system:node:node-1",
    ("system:nodes",)); `kubelab.client.Client.from_cert_dir(cert_dir, ..., user=name)` then
    connects over gRPC with the same files.
    """
    cert, key = issue_client_cert(cert_dir, user, groups, cert_dir / name)
    path = cert_dir / f"{name}.kubeconfig"
    write_kubeconfig(
        path,
        server_url=server_url,
        ca_cert=cert_dir / CA_CERT,
        client_cert=cert,
        client_key=key,
        cluster_name=cluster_name,
        user=user,
    )
    return path


def write_kubeconfig(
    path: Path,
    *,
    server_url: str,
    ca_cert: Path,
    client_cert: Path,
    client_key: Path,
    cluster_name: str,
    user: str,
) -> None:
    """A kubeconfig with the certificates embedded, so it works when copied elsewhere."""

    def b64(p: Path) -> str:
        return base64.b64encode(p.read_bytes()).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster_name,
                "cluster": {"server": server_url, "certificate-authority-data": b64(ca_cert)},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": b64(client_cert),
                    "client-key-data": b64(client_key),
                },
            }
        ],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": user}}],
        "current-context": cluster_name,
        "preferences": {},
    }
    _write_atomically(path, yaml.safe_dump(config, sort_keys=False).encode(), 0o600)


@dataclass(frozen=True)
class UserInfo:
    name: str
    groups: tuple[str, ...]


def user_from_der(der: bytes | None) -> UserInfo | None:
    """The user a verified client certificate names (CN = user, O = groups)."""
    if not der:
        return None
    cert = x509.load_der_x509_certificate(der)
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    orgs = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    if not cns:
        return None
    return UserInfo(str(cns[0].value), tuple(str(o.value) for o in orgs))
