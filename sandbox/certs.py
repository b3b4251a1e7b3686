"""A private certificate authority for the local HTTPS simulators.

`simple-salesforce` (and our own clients) always speak `https://`, and TLS
verification is never switched off anywhere in this project. So the simulators
serve a server certificate signed by a self-signed CA made here, and clients
trust that CA through `REQUESTS_CA_BUNDLE=<ca path>`.

`ensure_certificates` is idempotent: valid files are reused, so the CA that a
developer's environment already trusts stays the same across `make demo` runs.
A server certificate that is missing, expiring or not issued by the CA is
re-issued; a CA that is missing or expiring is replaced together with it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_VALIDITY = dt.timedelta(days=3650)
# Some TLS stacks (Apple's) refuse server certificates valid for longer than 825 days.
SERVER_VALIDITY = dt.timedelta(days=825)
# Re-issue well before expiry so that a long-lived checkout never hits the edge.
RENEW_MARGIN = dt.timedelta(days=30)
SERVER_DNS_NAMES = ("localhost",)
SERVER_IPS = ("127.0.0.1",)


@dataclass(frozen=True)
class CertPaths:
    """Where the PEM files live. `ca` is what clients trust; `cert`/`key` are the server's."""

    ca: Path
    cert: Path
    key: Path
    ca_key: Path


def ensure_certificates(certs_dir: Path) -> CertPaths:
    """Create (or reuse) the CA and the server certificate in `certs_dir`."""
    certs_dir = Path(certs_dir)
    certs_dir.mkdir(parents=True, exist_ok=True)
    paths = CertPaths(
        ca=certs_dir / "ca.pem",
        cert=certs_dir / "server.pem",
        key=certs_dir / "server-key.pem",
        ca_key=certs_dir / "ca-key.pem",
    )
    ca = _load_valid_ca(paths)
    if ca is None:
        ca = _write_new_ca(paths)
        _write_server_cert(paths, *ca)
    elif not _server_cert_valid(paths, ca[0]):
        _write_server_cert(paths, *ca)
    return paths


# -- checks -------------------------------------------------------------------


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _fresh(cert: x509.Certificate) -> bool:
    now = _now()
    return cert.not_valid_before_utc <= now and cert.not_valid_after_utc - RENEW_MARGIN > now


def _read_cert(path: Path) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return None


def _read_key(path: Path) -> rsa.RSAPrivateKey | None:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return None
    return key if isinstance(key, rsa.RSAPrivateKey) else None


def _key_matches(cert: x509.Certificate, key: rsa.RSAPrivateKey) -> bool:
    return cert.public_key().public_numbers() == key.public_key().public_numbers()  # type: ignore[union-attr]


def _load_valid_ca(paths: CertPaths) -> tuple[x509.Certificate, rsa.RSAPrivateKey] | None:
    cert, key = _read_cert(paths.ca), _read_key(paths.ca_key)
    if cert is None or key is None or not _fresh(cert) or not _key_matches(cert, key):
        return None
    return cert, key


def _server_cert_valid(paths: CertPaths, ca: x509.Certificate) -> bool:
    cert, key = _read_cert(paths.cert), _read_key(paths.key)
    if cert is None or key is None or not _fresh(cert) or not _key_matches(cert, key):
        return False
    try:
        cert.verify_directly_issued_by(ca)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    ips = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    dns = set(san.get_values_for_type(x509.DNSName))
    return set(SERVER_IPS) <= ips and set(SERVER_DNS_NAMES) <= dns


# -- issuing ------------------------------------------------------------------


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write_new_ca(paths: CertPaths) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    key = _new_key()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "propsync sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, "propsync sandbox local CA"),
        ]
    )
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _atomic_write(paths.ca_key, _key_pem(key), private=True)
    _atomic_write(paths.ca, cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _write_server_cert(
    paths: CertPaths, ca_cert: x509.Certificate, ca_key: rsa.RSAPrivateKey
) -> None:
    key = _new_key()
    now = _now()
    san = x509.SubjectAlternativeName(
        [x509.DNSName(name) for name in SERVER_DNS_NAMES]
        + [x509.IPAddress(ipaddress.ip_address(ip)) for ip in SERVER_IPS]
    )
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + SERVER_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(san, critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    _atomic_write(paths.key, _key_pem(key), private=True)
    _atomic_write(paths.cert, cert.public_bytes(serialization.Encoding.PEM))


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=not cert_sign,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _atomic_write(path: Path, data: bytes, *, private: bool = False) -> None:
    """Write via a temp file + rename so a concurrent reader never sees half a PEM."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o600 if private else 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
