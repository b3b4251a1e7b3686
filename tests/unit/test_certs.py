"""sandbox.certs: a private CA and a server certificate that clients can verify."""

from __future__ import annotations

import datetime as dt
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509

from sandbox import certs
from sandbox.certs import ensure_certificates


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _handshake(paths: certs.CertPaths, server_hostname: str) -> None:
    """A TLS handshake in memory: the client trusts only our CA and checks the name."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(paths.cert, paths.key)
    client_ctx = ssl.create_default_context(cafile=str(paths.ca))
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=server_hostname)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):
        done = True
        for end, outgoing, peer_incoming in ((client, c_out, s_in), (server, s_out, c_in)):
            try:
                end.do_handshake()
            except ssl.SSLWantReadError:
                done = False
            peer_incoming.write(outgoing.read())
        if done:
            return
    raise AssertionError("handshake did not finish")


def test_creates_a_ca_and_a_server_certificate_it_signed(tmp_path: Path) -> None:
    paths = ensure_certificates(tmp_path / "certs")
    ca, server = _cert(paths.ca), _cert(paths.cert)
    server.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert "127.0.0.1" in {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    # Private keys are readable by their owner only.
    for key in (paths.key, paths.ca_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600


@pytest.mark.parametrize("hostname", ["127.0.0.1", "localhost"])
def test_a_verifying_client_accepts_the_server(tmp_path: Path, hostname: str) -> None:
    _handshake(ensure_certificates(tmp_path), hostname)


def test_a_verifying_client_refuses_another_name(tmp_path: Path) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(ensure_certificates(tmp_path), "example.com")


def test_second_call_reuses_every_file(tmp_path: Path) -> None:
    first = ensure_certificates(tmp_path)
    before = {p: p.read_bytes() for p in (first.ca, first.cert, first.key, first.ca_key)}
    second = ensure_certificates(tmp_path)
    assert second == first
    assert {p: p.read_bytes() for p in before} == before


def test_missing_server_certificate_is_reissued_under_the_same_ca(tmp_path: Path) -> None:
    paths = ensure_certificates(tmp_path)
    ca_bytes = paths.ca.read_bytes()
    paths.cert.unlink()
    ensure_certificates(tmp_path)
    assert paths.ca.read_bytes() == ca_bytes  # clients that trust the CA keep working
    _cert(paths.cert).verify_directly_issued_by(_cert(paths.ca))


def test_server_certificate_of_another_ca_is_replaced(tmp_path: Path) -> None:
    ours = ensure_certificates(tmp_path / "ours")
    other = ensure_certificates(tmp_path / "other")
    ours.cert.write_bytes(other.cert.read_bytes())
    ours.key.write_bytes(other.key.read_bytes())
    ensure_certificates(tmp_path / "ours")
    _cert(ours.cert).verify_directly_issued_by(_cert(ours.ca))


def test_broken_ca_key_replaces_the_ca_and_the_server_certificate(tmp_path: Path) -> None:
    paths = ensure_certificates(tmp_path)
    old_ca = paths.ca.read_bytes()
    paths.ca_key.write_text("not a key")
    ensure_certificates(tmp_path)
    assert paths.ca.read_bytes() != old_ca
    _cert(paths.cert).verify_directly_issued_by(_cert(paths.ca))


def test_expiring_server_certificate_is_renewed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = ensure_certificates(tmp_path)
    old_serial = _cert(paths.cert).serial_number
    # 800 days on, the 825-day server certificate is inside the 30-day renewal margin,
    # while the 10-year CA is still fresh and must be kept.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=800)
    monkeypatch.setattr(certs, "_now", lambda: later)
    ca_bytes = paths.ca.read_bytes()
    ensure_certificates(tmp_path)
    assert paths.ca.read_bytes() == ca_bytes
    assert _cert(paths.cert).serial_number != old_serial
    assert _cert(paths.cert).not_valid_after_utc > later + dt.timedelta(days=800)
