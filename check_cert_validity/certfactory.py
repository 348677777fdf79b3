"""Make certificates with exact notBefore/notAfter, for the demo and the tests.

Not used by the check itself. Keys: ``ec256`` (default), ``ec384``,
``rsa1024``, ``rsa2048``, ``ed25519``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from check_cert_validity.der import tlv

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


def new_key(kind: str = "ec256") -> PrivateKey:
    """A fresh private key of the named kind."""
    if kind == "ec256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "ec384":
        return ec.generate_private_key(ec.SECP384R1())
    if kind.startswith("rsa"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(kind[3:]))
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"unknown key kind {kind!r}")


@dataclass(frozen=True)
class Issued:
    """A certificate with its private key."""

    cert: x509.Certificate
    key: PrivateKey

    def cert_pem(self) -> bytes:
        """The certificate, PEM."""
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        """The private key, unencrypted PKCS#8 PEM."""
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def issue(
    *,
    not_before: datetime,
    not_after: datetime,
    common_name: str | None = "localhost",
    sans: Sequence[str] = ("localhost", "127.0.0.1", "::1"),
    issuer: Issued | None = None,
    ca: bool = False,
    key: str = "ec256",
    serial: int | None = None,
    sha1: bool = False,
    subject: x509.Name | None = None,
    crl_points: Sequence[Sequence[str]] = (),
) -> Issued:
    """Issue a certificate; self-signed when ``issuer`` is None.

    ``crl_points``: CRL distribution points, each the URIs of its fullName.
    """
    private = new_key(key)
    if subject is None:
        attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "check_cert_validity test")]
        if common_name is not None:
            attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
        subject = x509.Name(attrs)
    signer = issuer.key if issuer else private
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(private.public_key())
        .serial_number(serial if serial is not None else x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans and not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(n) for n in sans]), critical=False
        )
    if not ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
    if crl_points:
        points = [
            x509.DistributionPoint(
                [x509.UniformResourceIdentifier(uri) for uri in uris], None, None, None
            )
            for uris in crl_points
        ]
        builder = builder.add_extension(x509.CRLDistributionPoints(points), critical=False)
    if isinstance(signer, ed25519.Ed25519PrivateKey):
        return Issued(builder.sign(signer, None), private)
    cert = builder.sign(signer, hashes.SHA256())  # type: ignore[arg-type]
    if sha1:
        if not isinstance(signer, rsa.RSAPrivateKey):
            raise ValueError("sha1=True needs an RSA issuer key")
        cert = _resign_sha1_rsa(cert, signer)
    return Issued(cert, private)


# sha256WithRSAEncryption and sha1WithRSAEncryption differ in the OID's last byte.
_SHA256_RSA = bytes.fromhex("06092a864886f70d01010b")
_SHA1_RSA = bytes.fromhex("06092a864886f70d010105")


def _resign_sha1_rsa(cert: x509.Certificate, key: rsa.RSAPrivateKey) -> x509.Certificate:
    """Re-sign with SHA-1, which cryptography's builder refuses (legacy test servers)."""
    tbs = cert.tbs_certificate_bytes.replace(_SHA256_RSA, _SHA1_RSA, 1)
    signature = key.sign(tbs, padding.PKCS1v15(), hashes.SHA1())
    algorithm = tlv(0x30, _SHA1_RSA + b"\x05\x00")
    return x509.load_der_x509_certificate(tlv(0x30, tbs + algorithm + tlv(0x03, b"\0" + signature)))
