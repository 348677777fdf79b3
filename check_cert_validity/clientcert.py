"""A client certificate and key for servers that insist on one (``--client-cert``).

Reading the files happens here, at the edge, once; the probe gets parsed
objects. Nothing is judged about the certificate: only that the key fits it,
so a wrong pair is a usage error up front instead of a confusing handshake
failure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from check_cert_validity import certfile

if TYPE_CHECKING:  # the name is newer than Debian 12's cryptography 38
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes


class ClientCertError(Exception):
    """The client certificate or key cannot be used (a usage error)."""


class ClientIdentity(NamedTuple):
    """The certificate chain (leaf first) and private key to present."""

    chain: tuple[x509.Certificate, ...]
    key: PrivateKeyTypes


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise ClientCertError(f"cannot read {what} {path!r}: {exc.strerror}") from None


def load(cert_path: str, key_path: str | None) -> ClientIdentity:
    """Load PEM files; the key may sit in the certificate file (``key_path`` None)."""
    cert_pem = _read(cert_path, "client certificate")
    try:
        chain = certfile.parse(cert_pem).certificates
    except certfile.CertFileError:
        chain = ()
    if not chain:  # a CRL alone parses, but is no identity
        raise ClientCertError(f"no PEM certificate in {cert_path!r}")
    key_source = key_path or cert_path
    key_pem = _read(key_source, "client key") if key_path else cert_pem
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        reason = "encrypted keys are not supported" if isinstance(exc, TypeError) else "no key"
        raise ClientCertError(f"no usable PEM private key in {key_source!r} ({reason})") from None
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    leaf_public = (
        chain[0]
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    if public != leaf_public:
        raise ClientCertError(f"the key in {key_source!r} does not belong to {cert_path!r}")
    return ClientIdentity(chain, key)
