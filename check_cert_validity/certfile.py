"""Certificates from a file on disk: ``parse`` is pure, ``read`` is the only IO.

``parse`` takes the file's bytes and returns its certificates, leaf first,
and its certificate revocation lists: PEM (one certificate or a bundle, e.g.
``fullchain.pem``, or CRLs as ``X509 CRL`` blocks; other PEM blocks such as
a private key are skipped, never decoded and never printed), or one DER
certificate or CRL. It never imports pyOpenSSL's ``OpenSSL.SSL``: checking a
file must stay fast (no TLS library set-up).

Two kinds of failure, because they call for different states:

- the certificate is not there (missing, empty, garbage, no certificate in
  it, truncated): what a failed creation looks like, judged like an endpoint
  that gives no certificate (CRITICAL by default);
- we cannot look (permission denied, a directory, not a regular file, an I/O
  error): says nothing about the certificate, so UNKNOWN.
"""

from __future__ import annotations

import base64
import binascii
import errno
import os
import re
import stat
from typing import NamedTuple

from cryptography import x509

from check_cert_validity.certinfo import clean, load_der, load_der_crl

# Larger than any certificate bundle a service loads (Debian's whole CA
# bundle is ~220 KiB); a bigger file is not a certificate file.
MAX_BYTES = 1024 * 1024
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]{1,64})-----(.*?)-----END \1-----", re.DOTALL)
_CERT_LABELS = (b"CERTIFICATE", b"X509 CERTIFICATE")
_CRL_LABEL = b"X509 CRL"
_DER_SEQUENCE = 0x30


class CertFileError(Exception):
    """No certificate from the file; ``cannot_look`` when the fault is ours."""

    def __init__(self, message: str, cannot_look: bool = False) -> None:
        super().__init__(message)
        self.cannot_look = cannot_look


class CertBundle(NamedTuple):
    """What a certificate file holds: certificates (leaf first), CRLs, what was skipped."""

    certificates: tuple[x509.Certificate, ...]
    encoding: str  # "PEM" or "DER"
    skipped: tuple[str, ...] = ()  # labels of PEM blocks that are neither
    crls: tuple[x509.CertificateRevocationList, ...] = ()


def parse(data: bytes) -> CertBundle:
    """The certificates in a file's bytes; raises CertFileError (never shows content)."""
    if not data:
        raise CertFileError("the file is empty")
    if not data.strip():
        raise CertFileError("the file holds only white space")
    if b"-----BEGIN " in data:
        return _parse_pem(data)
    if data[0] == _DER_SEQUENCE:
        try:
            return CertBundle((load_der(data),), "DER")
        except ValueError:
            pass
        try:
            return CertBundle((), "DER", crls=(load_der_crl(data),))
        except ValueError:
            raise CertFileError(
                "not a certificate (DER that does not parse as one, nor as a CRL)"
            ) from None
    raise CertFileError("not a certificate file (neither PEM nor DER)")


def _parse_pem(data: bytes) -> CertBundle:
    certificates: list[x509.Certificate] = []
    crls: list[x509.CertificateRevocationList] = []
    skipped: list[str] = []
    for number, match in enumerate(_PEM_BLOCK.finditer(data), start=1):
        label = match.group(1)
        if label not in _CERT_LABELS and label != _CRL_LABEL:
            skipped.append(label.decode("ascii"))
            continue
        try:
            der = base64.b64decode(b"".join(match.group(2).split()), validate=True)
            if label == _CRL_LABEL:
                crls.append(load_der_crl(der))
            else:
                certificates.append(load_der(der))
        except (binascii.Error, ValueError):
            what = "CRL" if label == _CRL_LABEL else "certificate"
            raise CertFileError(
                f"PEM block {number} ({label.decode('ascii')}) is not a valid {what}"
            ) from None
    if certificates or crls:
        return CertBundle(tuple(certificates), "PEM", tuple(skipped), tuple(crls))
    if skipped:
        found = ", ".join(dict.fromkeys(skipped))
        raise CertFileError(f"no certificate in the file (it holds: {clean(found)})")
    raise CertFileError("no complete PEM block (a BEGIN line without its END: truncated?)")


def read(path: str) -> bytes:
    """The file's bytes (at most MAX_BYTES); raises CertFileError. The only IO here."""
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise CertFileError("is a directory, not a certificate file", cannot_look=True)
        if not stat.S_ISREG(info.st_mode):
            raise CertFileError("is not a regular file", cannot_look=True)
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise CertFileError("no such file") from None
    except OSError as exc:
        if exc.errno == errno.ENOTDIR:
            raise CertFileError("no such file (a parent is not a directory)") from None
        reason = exc.strerror or type(exc).__name__
        raise CertFileError(f"cannot read it: {reason.lower()}", cannot_look=True) from None
    if len(data) > MAX_BYTES:
        raise CertFileError(f"larger than {MAX_BYTES // 1024} KiB: not a certificate file")
    return data


def load(path: str) -> CertBundle:
    """Read and parse one certificate file."""
    return parse(read(path))
