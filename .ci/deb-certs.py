"""Write the certificates .ci/deb serves inside a clean root, with exact dates.

Run there by Debian's /usr/bin/python3 with Debian's python3-cryptography (a
dependency of the package under test, so nothing else is installed for it):
  fresh.pem   issued 2026-01-01, 30 days: judged on 2026-01-02, 29 days left (OK)
  overdue.pem issued 2025-12-10, 30 days: judged on 2026-01-02, 7 days left,
              three days past its 20-day rotation (WARNING)
  current.pem issued a day before now, 30 days: healthy on the real clock (the
              exporter, which judges as of the clock, sees it OK and fresh.pem expired)
"""

import datetime
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

UTC = datetime.UTC
CERTIFICATES = {
    "fresh": datetime.datetime(2026, 1, 1, tzinfo=UTC),
    "overdue": datetime.datetime(2025, 12, 10, tzinfo=UTC),
    "current": datetime.datetime.now(UTC).replace(microsecond=0) - datetime.timedelta(days=1),
}


def write(directory: str, name: str, not_before: datetime.datetime) -> None:
    """A self-signed certificate for ``name``.test, valid 30 days from ``not_before``."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name}.test")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(f"{name}.test")]), False)
        .sign(key, hashes.SHA256())
    )
    with open(f"{directory}/{name}.pem", "wb") as out:
        out.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(f"{directory}/{name}.key", "wb") as out:
        out.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )


if __name__ == "__main__":
    for name, not_before in CERTIFICATES.items():
        write(sys.argv[1], name, not_before)
