"""A real OpenSSL CA on disk for the tests: ``openssl ca`` revokes and ``-gencrl`` publishes.

CRLs are made the way a small internal CA makes them, by the ``openssl``
command, with exact thisUpdate/nextUpdate (``-crl_lastupdate`` and
``-crl_nextupdate``, OpenSSL 3.0 and later) and, unless told otherwise, a
cRLNumber that counts up with every CRL, as ``openssl ca`` keeps it in its
``crlnumber`` file.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from check_cert_validity.certfactory import Issued, issue
from check_cert_validity.der import tlv

_CONFIG = """\
[ca]
default_ca = test_ca

[test_ca]
dir = {dir}
database = $dir/index.txt
new_certs_dir = $dir
certificate = $dir/ca.pem
private_key = $dir/ca.key
default_md = sha256
default_crl_days = 7
policy = anything
{crlnumber}

[anything]
commonName = optional
"""


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%d%H%M%SZ")


class OpenSslCa:
    """A CA directory (``openssl ca`` layout) whose CRLs the tests publish."""

    def __init__(self, directory: Path, name: str = "Test CRL CA", numbered: bool = True) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.dir = directory
        self.ca = issue(
            common_name=name,
            not_before=datetime(2026, 1, 1, tzinfo=UTC),
            not_after=datetime(2036, 1, 1, tzinfo=UTC),
            sans=(),
            ca=True,
        )
        (directory / "ca.pem").write_bytes(self.ca.cert_pem())
        (directory / "ca.key").write_bytes(self.ca.key_pem())
        (directory / "index.txt").write_text("")
        numbering = ""
        if numbered:
            (directory / "crlnumber").write_text("2A\n")  # the first CRL is number 42
            numbering = "crlnumber = $dir/crlnumber"
        self.config = directory / "openssl.cnf"
        self.config.write_text(_CONFIG.format(dir=directory, crlnumber=numbering))

    def _openssl(self, *args: str) -> None:
        subprocess.run(
            ["openssl", "ca", "-batch", "-config", str(self.config), *args],
            check=True,
            capture_output=True,
        )

    def revoke(self, issued: Issued) -> None:
        """Revoke a certificate (it need not have been issued by this directory)."""
        path = self.dir / f"revoke-{issued.cert.serial_number:x}.pem"
        path.write_bytes(issued.cert_pem())
        self._openssl("-revoke", str(path))

    def gencrl(self, this_update: datetime, next_update: datetime, der: bool = False) -> bytes:
        """A CRL signed now, valid from ``this_update`` to ``next_update``: PEM, or DER."""
        out = self.dir / "crl.pem"
        self._openssl(
            "-gencrl",
            "-crl_lastupdate",
            _stamp(this_update),
            "-crl_nextupdate",
            _stamp(next_update),
            "-out",
            str(out),
        )
        pem = out.read_bytes()
        if not der:
            return pem
        return x509.load_pem_x509_crl(pem).public_bytes(serialization.Encoding.DER)


def _element(data: bytes, at: int) -> tuple[int, int]:
    """Where the DER element at ``at`` ends, and where its body starts."""
    length, body = data[at + 1], at + 2
    if length & 0x80:
        size = length & 0x7F
        length, body = int.from_bytes(data[body : body + size], "big"), body + size
    return body + length, body


def without_next_update(der: bytes) -> bytes:
    """The CRL with its nextUpdate taken out (X.509 allows that; RFC 5280 does not).

    The signature no longer matches, which the plugin never looks at.
    """
    _, tbs_at = _element(der, 0)
    tbs_end, field = _element(der, tbs_at)
    fields = []
    while field < tbs_end:
        end, _ = _element(der, field)
        fields.append(der[field:end])
        field = end
    # version, signature, issuer, thisUpdate, nextUpdate (a UTCTime or GeneralizedTime)
    assert fields[4][0] in (0x17, 0x18), "nextUpdate expected after thisUpdate"
    tbs = tlv(0x30, b"".join(fields[:4] + fields[5:]))
    return tlv(0x30, tbs + der[tbs_end:])
