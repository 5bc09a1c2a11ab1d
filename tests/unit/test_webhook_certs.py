"""The webhook's CA and serving certificate: a real TLS handshake verifies the chain."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
from pathlib import Path

import pytest
from cryptography import x509

from jupyter_containers.shell import webhook_certs


def _handshake(certs: webhook_certs.WebhookCertificates, server_name: str) -> None:
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(certs.cert_file, certs.key_file)
    client_ctx = ssl.create_default_context(cafile=str(certs.ca_file))
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def serve() -> None:
            conn, _ = listener.accept()
            try:
                with server_ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (ssl.SSLError, OSError):
                pass

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            with (
                socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
                client_ctx.wrap_socket(raw, server_hostname=server_name) as tls,
            ):
                tls.sendall(b"x")
        finally:
            thread.join(timeout=5)


def test_generated_chain_verifies_for_ip_and_dns(tmp_path: Path) -> None:
    certs = webhook_certs.ensure(tmp_path / "certs", ["127.0.0.1", "webhook.svc"])
    assert certs.generated
    assert oct(certs.key_file.stat().st_mode & 0o777) == "0o600"
    _handshake(certs, "127.0.0.1")
    _handshake(certs, "webhook.svc")
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(certs, "other.example")


def test_reused_while_valid_and_regenerated_for_new_hosts(tmp_path: Path) -> None:
    first = webhook_certs.ensure(tmp_path, ["127.0.0.1"])
    ca = first.ca_file.read_bytes()
    again = webhook_certs.ensure(tmp_path, ["127.0.0.1"])
    assert again.ca_file.read_bytes() == ca  # a restart keeps the caBundle
    moved = webhook_certs.ensure(tmp_path, ["127.0.0.1", "new.host"])
    assert moved.ca_file.read_bytes() != ca
    _handshake(moved, "new.host")


def test_regenerated_before_expiry(tmp_path: Path) -> None:
    long_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=340)
    old = webhook_certs.ensure(tmp_path, ["127.0.0.1"], now=long_ago)
    ca = old.ca_file.read_bytes()
    fresh = webhook_certs.ensure(tmp_path, ["127.0.0.1"])
    assert fresh.ca_file.read_bytes() != ca
    cert = x509.load_pem_x509_certificate(fresh.cert_file.read_bytes())
    assert cert.not_valid_after_utc > datetime.datetime.now(datetime.UTC) + datetime.timedelta(
        days=300
    )


def test_provided_certificates_are_used_as_they_are(tmp_path: Path) -> None:
    ca, cert, key = webhook_certs.generate(["webhook.svc"])
    (tmp_path / "tls.crt").write_bytes(cert)
    (tmp_path / "tls.key").write_bytes(key)
    (tmp_path / "ca.crt").write_bytes(ca)
    # Not naming 127.0.0.1 does not matter: a mounted Secret is never replaced.
    certs = webhook_certs.ensure(tmp_path, ["127.0.0.1"])
    assert not certs.generated
    assert certs.cert_file.read_bytes() == cert


def test_provided_certificate_without_key_is_an_error(tmp_path: Path) -> None:
    _, cert, _ = webhook_certs.generate(["webhook.svc"])
    (tmp_path / "tls.crt").write_bytes(cert)
    with pytest.raises(FileNotFoundError, match="has no private key"):
        webhook_certs.ensure(tmp_path, ["webhook.svc"])


def test_needs_a_host() -> None:
    with pytest.raises(ValueError, match="at least one host name"):
        webhook_certs.generate([])
