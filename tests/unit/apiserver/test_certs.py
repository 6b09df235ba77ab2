from __future__ import annotations

import ipaddress
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from controlplane.apiserver.certs import ensure_pki, issue_client_cert, user_from_der


def test_first_start_creates_ca_serving_admin_and_kubeconfig(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path, addresses=("10.250.0.10",), server_url="https://10.250.0.10:6443")
    cert = x509.load_pem_x509_certificate(pki.serving_cert.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    dns = set(san.get_values_for_type(x509.DNSName))
    ips = {str(i) for i in san.get_values_for_type(x509.IPAddress)}
    assert {"localhost", "kubernetes", "kubernetes.default.svc"} <= dns
    assert {"10.250.0.10", "127.0.0.1", "10.96.0.1"} <= ips
    kubeconfig = yaml.safe_load(pki.admin_kubeconfig.read_text())
    assert kubeconfig["clusters"][0]["cluster"]["server"] == "https://10.250.0.10:6443"
    admin = x509.load_pem_x509_certificate((tmp_path / "admin.crt").read_bytes())
    user = user_from_der(admin.public_bytes(Encoding.DER))
    assert user is not None
    assert (user.name, user.groups) == ("kubernetes-admin", ("system:masters",))
    assert (tmp_path / "ca.key").stat().st_mode & 0o077 == 0


def test_existing_ca_is_reused(tmp_path: Path) -> None:
    ensure_pki(tmp_path, addresses=("127.0.0.1",))
    ca = (tmp_path / "ca.crt").read_bytes()
    other = tmp_path / "second"
    other.mkdir()
    for name in ("ca.crt", "ca.key"):
        (other / name).write_bytes((tmp_path / name).read_bytes())
    ensure_pki(other, addresses=("10.250.0.11",), service_cidr="10.100.0.0/16")
    assert (other / "ca.crt").read_bytes() == ca
    serving = x509.load_pem_x509_certificate((other / "apiserver.crt").read_bytes())
    assert serving.issuer == x509.load_pem_x509_certificate(ca).subject
    san = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("10.100.0.1") in san.get_values_for_type(x509.IPAddress)


def test_client_certificates_carry_user_and_groups(tmp_path: Path) -> None:
    ensure_pki(tmp_path, addresses=("127.0.0.1",))
    cert_path, key_path = issue_client_cert(
        tmp_path, "system:kube-scheduler", ("system:schedulers",), tmp_path / "scheduler"
    )
    assert key_path.exists()
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    user = user_from_der(cert.public_bytes(Encoding.DER))
    assert user is not None
    assert user.name == "system:kube-scheduler"
    assert user.groups == ("system:schedulers",)
    assert user_from_der(None) is None


def test_a_shared_directory_serves_every_apiservers_addresses(tmp_path: Path) -> None:
    ensure_pki(tmp_path, addresses=("10.250.0.10",))
    ensure_pki(tmp_path, addresses=("10.250.0.11",))
    cert = x509.load_pem_x509_certificate((tmp_path / "apiserver.crt").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    ips = {str(i) for i in san.get_values_for_type(x509.IPAddress)}
    assert {"10.250.0.10", "10.250.0.11"} <= ips
    before = (tmp_path / "apiserver.crt").read_bytes()
    ensure_pki(tmp_path, addresses=("10.250.0.10",))  # covered: not reissued
    assert (tmp_path / "apiserver.crt").read_bytes() == before


def test_files_appear_whole_with_private_modes(tmp_path: Path) -> None:
    """Other processes poll for these files, so each is renamed into place complete."""
    pki = ensure_pki(tmp_path, addresses=("127.0.0.1",))
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert pki.admin_kubeconfig.stat().st_mode & 0o777 == 0o600
    keys = list(tmp_path.glob("*.key"))
    assert keys
    assert all(k.stat().st_mode & 0o777 == 0o600 for k in keys)
