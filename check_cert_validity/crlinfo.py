"""Pure facts about one certificate revocation list, in the terms a certificate has.

A CRL expires too: once its nextUpdate passes, every client that checks
revocation refuses every certificate of its CA. The model is the
certificate's, read off the CRL: time left = nextUpdate - now, age = now -
thisUpdate, lifetime = nextUpdate - thisUpdate; V is how long the CA makes
each CRL valid, R how often it publishes one. ``CrlFacts`` has the fields
and methods the judgement and every face read from ``CertFacts``, so a CRL
is judged and rendered by the same code.

A CRL without nextUpdate (allowed by X.509, forbidden by RFC 5280) has no
time to judge: ``from_crl`` raises ``Undated``.
"""

# Annotations are evaluated here (no ``from __future__ import annotations``):
# typing.NamedTuple compiles every annotation given as a string when the class
# is made.

import warnings
from datetime import UTC, datetime
from typing import NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from check_cert_validity.certinfo import clean


class Undated(ValueError):
    """The CRL has no nextUpdate: nothing says when it stops being valid."""


class CrlFacts(NamedTuple):
    """What the plugin reports about a CRL (text fields already cleaned).

    ``name`` and ``issuer_name`` are the issuer's CN (its DN when it has
    none); ``serial`` is the CRL number (cRLNumber), "" without one.
    """

    name: str
    issuer: str
    issuer_name: str
    serial: str
    sha256: str
    not_before: datetime
    not_after: datetime
    revoked: int
    crl: x509.CertificateRevocationList

    @property
    def kind(self) -> str:
        """What was judged, as the metrics' ``kind`` label says it."""
        return "crl"

    @classmethod
    def from_crl(cls, crl: x509.CertificateRevocationList) -> "CrlFacts":
        """Extract the facts; raises Undated for a CRL without nextUpdate."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            issuer = _issuer(crl)
            try:
                cns = [str(a.value) for a in crl.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)]
            except (ValueError, UnicodeError, KeyError):
                cns = []
            issuer_name = clean(cns[0]) if cns else issuer
            number = _number(crl)
            this_update, next_update = _updates(crl)
            if next_update is None:
                raise Undated(f"CRL of '{issuer_name}'{_numbered(number)} has no nextUpdate")
            return cls(
                name=issuer_name,
                issuer=issuer,
                issuer_name=issuer_name,
                serial=number,
                sha256=crl.fingerprint(hashes.SHA256()).hex(":").upper(),
                not_before=this_update,
                not_after=next_update,
                revoked=len(crl),
                crl=crl,
            )

    @property
    def title(self) -> str:
        """How the status line names it: ``CRL of 'Example CA' (number 42)``."""
        return f"CRL of '{self.name}'{_numbered(self.serial)}"

    @property
    def lifetime(self) -> float:
        """nextUpdate - thisUpdate, in seconds."""
        return (self.not_after - self.not_before).total_seconds()

    def time_left(self, now: datetime) -> float:
        """nextUpdate - now, in seconds (negative once past)."""
        return (self.not_after - now).total_seconds()

    def age(self, now: datetime) -> float:
        """now - thisUpdate, in seconds (negative when issued in the future)."""
        return (now - self.not_before).total_seconds()


def _numbered(number: str) -> str:
    return f" (number {number})" if number else " (no CRL number)"


def _issuer(crl: x509.CertificateRevocationList) -> str:
    try:
        return clean(crl.issuer.rfc4514_string(), 200)
    except (ValueError, UnicodeError, KeyError):
        return "<undecodable name>"


def _number(crl: x509.CertificateRevocationList) -> str:
    try:
        ext = crl.extensions.get_extension_for_class(x509.CRLNumber)
    except x509.ExtensionNotFound:
        return ""
    except (ValueError, x509.DuplicateExtension):
        return "<undecodable CRL number>"
    return str(ext.value.crl_number)


def _updates(crl: x509.CertificateRevocationList) -> tuple[datetime, datetime | None]:
    """thisUpdate and nextUpdate, timezone-aware UTC, with any supported cryptography."""
    try:
        return crl.last_update_utc, crl.next_update_utc
    except AttributeError:  # before cryptography 42 (Debian 12 has 38): naive UTC only
        last, following = crl.last_update, crl.next_update
        return last.replace(tzinfo=UTC), following.replace(tzinfo=UTC) if following else None
