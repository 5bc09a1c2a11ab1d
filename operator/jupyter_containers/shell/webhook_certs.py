"""TLS for the admission webhook: a self-signed CA and a serving certificate it signs.

The API server only calls webhooks over HTTPS and checks the certificate against the
`caBundle` of the webhook configuration. In a cluster the chart mounts a certificate
(e.g. from cert-manager) and this module only finds it; locally it makes one. A
generated pair is kept in its directory and reused while it is valid and names the
host, so a restart does not change the caBundle.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_FILE = "ca.crt"
CERT_FILE = "tls.crt"
KEY_FILE = "tls.key"
#: Present when this module generated the files, so it may replace them when they expire.
GENERATED_MARKER = ".generated-by-jupyter-containers"

VALID_DAYS = 365
RENEW_BEFORE_DAYS = 30


@dataclass(frozen=True)
class WebhookCertificates:
    """Paths for `kopf.WebhookServer(cafile=..., certfile=..., pkeyfile=...)`."""

    ca_file: Path
    cert_file: Path
    key_file: Path
    generated: bool


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _san_entries(hostnames: Sequence[str]) -> list[x509.GeneralName]:
    entries: list[x509.GeneralName] = []
    for host in dict.fromkeys(hostnames):  # unique, in order
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            entries.append(x509.DNSName(host))
    return entries


def _covers(cert: x509.Certificate, hostnames: Sequence[str]) -> bool:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    present = set(san)
    return all(entry in present for entry in _san_entries(hostnames))


def _usable(directory: Path, hostnames: Sequence[str], now: datetime.datetime) -> bool:
    try:
        cert = x509.load_pem_x509_certificate((directory / CERT_FILE).read_bytes())
    except (OSError, ValueError):
        return False
    fresh = cert.not_valid_after_utc - now > datetime.timedelta(days=RENEW_BEFORE_DAYS)
    return fresh and (directory / KEY_FILE).is_file() and _covers(cert, hostnames)


def generate(
    hostnames: Sequence[str], *, now: datetime.datetime | None = None
) -> tuple[bytes, bytes, bytes]:
    """A new CA and a serving certificate for `hostnames`: (ca.crt, tls.crt, tls.key) as PEM."""
    if not hostnames:
        raise ValueError("the webhook certificate needs at least one host name or IP address")
    now = now or _now()
    not_before = now - datetime.timedelta(minutes=5)  # tolerate small clock skew
    not_after = now + datetime.timedelta(days=VALID_DAYS)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "jupyter-containers-webhook-ca")])
    ca_cert = _ca_certificate(ca_key, ca_name, not_before, not_after)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(_san_entries(hostnames)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return (
        ca_cert.public_bytes(pem),
        cert.public_bytes(pem),
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )


def _ca_certificate(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_name: x509.Name,
    not_before: datetime.datetime,
    not_after: datetime.datetime,
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    # Written under a temporary name and renamed, so a reader never sees half a file.
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def ensure(
    directory: Path, hostnames: Sequence[str], *, now: datetime.datetime | None = None
) -> WebhookCertificates:
    """The webhook's certificate files in `directory`, generated there when needed.

    Files someone else put there (a mounted Secret: no marker) are used as they are.
    Generated ones are replaced when they expire within RENEW_BEFORE_DAYS or do not
    name every host in `hostnames`.
    """
    certs = WebhookCertificates(
        ca_file=directory / CA_FILE,
        cert_file=directory / CERT_FILE,
        key_file=directory / KEY_FILE,
        generated=(directory / GENERATED_MARKER).exists(),
    )
    provided = certs.cert_file.exists() and not certs.generated
    if provided:
        if not certs.key_file.exists():
            raise FileNotFoundError(
                f"webhook certificate {certs.cert_file} has no private key {certs.key_file}; "
                "mount both (a kubernetes.io/tls Secret) or neither to generate them"
            )
        return certs
    if certs.generated and _usable(directory, hostnames, now or _now()):
        return certs
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    ca_pem, cert_pem, key_pem = generate(hostnames, now=now)
    _write(certs.key_file, key_pem, 0o600)
    _write(certs.cert_file, cert_pem, 0o644)
    _write(certs.ca_file, ca_pem, 0o644)
    (directory / GENERATED_MARKER).touch()
    return WebhookCertificates(certs.ca_file, certs.cert_file, certs.key_file, generated=True)
