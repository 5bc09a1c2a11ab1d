"""The webhook server requires the API server's client certificate when one is configured.

The operator's own kopf WebhookServer (as shell.admission builds it), on 127.0.0.1, against a
real TLS client: without a client certificate, or with one another CA signed, the handshake is
refused; with one the configured CA signed, the AdmissionReview reaches the handler.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import socket
import ssl
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from jupyter_containers.core.settings import Settings
from jupyter_containers.shell.webhook_server import _webhook_server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _client_pki(directory: Path, name: str) -> tuple[Path, Path, Path]:
    """A CA and a client certificate it signed: (ca.crt, client.crt, client.key)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name}-ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    paths = (directory / f"{name}-ca.crt", directory / f"{name}.crt", directory / f"{name}.key")
    paths[0].write_bytes(ca.public_bytes(pem))
    paths[1].write_bytes(cert.public_bytes(pem))
    paths[2].write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


async def _post(
    port: int, server_ca: Path, client: tuple[Path, Path] | None, padding: int = 0
) -> str:
    """POST an AdmissionReview (with `padding` more bytes in its object) over TLS; the HTTP
    status line, or the TLS/connection error."""
    context = ssl.create_default_context(cafile=str(server_ca))
    if client is not None:
        context.load_cert_chain(str(client[0]), str(client[1]))
    review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}
    if padding:
        review["request"] = {"uid": "u", "object": {"spec": {"env": "x" * padding}}}
    body = json.dumps(review).encode()
    request = (
        f"POST /probe HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    try:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=context, server_hostname="127.0.0.1"
        )
        writer.write(request)
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout=30)
        writer.close()
    except (ssl.SSLError, ConnectionError, OSError) as exc:
        return f"refused: {type(exc).__name__}"
    return line.decode().strip() or "refused: closed without an answer"


async def _serve(settings: Settings, cert_dir: Path, probes: Any) -> list[Any]:
    seen: list[Any] = []

    async def handler(data: Any, **kwargs: Any) -> dict[str, Any]:
        seen.append(kwargs.get("sslpeer"))
        return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}

    server = _webhook_server(settings, cert_dir)
    serving = server(handler)
    await serving.__anext__()  # listening
    try:
        return [await probe() for probe in probes] + [seen]
    finally:
        await serving.aclose()


def test_the_webhook_server_requires_the_api_servers_client_certificate(tmp_path: Path) -> None:
    api_ca, api_cert, api_key = _client_pki(tmp_path, "apiserver")
    _, other_cert, other_key = _client_pki(tmp_path, "other")
    port = _free_port()
    settings = Settings(
        webhook_listen_address="127.0.0.1",
        webhook_port=port,
        webhook_client_ca_file=str(api_ca),
    )
    cert_dir = tmp_path / "serving"
    server_ca = cert_dir / "ca.crt"
    anonymous, stranger, apiserver, seen = asyncio.run(
        _serve(
            settings,
            cert_dir,
            [
                lambda: _post(port, server_ca, None),
                lambda: _post(port, server_ca, (other_cert, other_key)),
                lambda: _post(port, server_ca, (api_cert, api_key)),
            ],
        )
    )
    assert anonymous.startswith("refused"), anonymous
    assert stranger.startswith("refused"), stranger
    assert apiserver.startswith("HTTP/1.1 200"), apiserver
    assert len(seen) == 1 and seen[0] is not None  # the handler saw the API server's cert


def test_without_a_client_ca_any_client_connects(tmp_path: Path) -> None:
    port = _free_port()
    settings = Settings(webhook_listen_address="127.0.0.1", webhook_port=port)
    cert_dir = tmp_path / "serving"
    anonymous, seen = asyncio.run(
        _serve(settings, cert_dir, [lambda: _post(port, cert_dir / "ca.crt", None)])
    )
    assert anonymous.startswith("HTTP/1.1 200"), anonymous
    assert seen == [None]


def test_a_missing_client_ca_file_stops_the_start_with_its_name(tmp_path: Path) -> None:
    settings = Settings(webhook_client_ca_file=str(tmp_path / "nope.crt"))
    with pytest.raises(FileNotFoundError, match="JC_WEBHOOK_CLIENT_CA_FILE"):
        _webhook_server(settings, tmp_path / "serving")


def test_an_admission_review_larger_than_aiohttps_default_is_read(tmp_path: Path) -> None:
    """An UPDATE of an object as large as etcd stores carries it twice (about 3 MiB): aiohttp's
    1 MiB default answered 413, which the API server turns into "Internal error"."""
    port = _free_port()
    settings = Settings(webhook_listen_address="127.0.0.1", webhook_port=port)
    cert_dir = tmp_path / "serving"
    large, seen = asyncio.run(
        _serve(
            settings,
            cert_dir,
            [lambda: _post(port, cert_dir / "ca.crt", None, padding=3 * 1024 * 1024)],
        )
    )
    assert large.startswith("HTTP/1.1 200"), large
    assert seen == [None]
