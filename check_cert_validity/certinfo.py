"""Pure facts about one certificate, and text from it made safe to print.

Works on ``cryptography.x509.Certificate`` objects with timezone-aware UTC
datetimes. Certificate text is untrusted: ``clean`` keeps it on one line,
free of ``|`` (the perfdata separator) and of control characters.
"""

# Annotations are evaluated here (no ``from __future__ import annotations``):
# typing.NamedTuple compiles every annotation given as a string when the class
# is made, and every check pays for that at start-up.

import functools
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from typing import NamedTuple, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

MAX_TEXT = 80


def clean(text: str, limit: int = MAX_TEXT) -> str:
    """Make untrusted text one printable line: escape controls and ``|``, cap length."""
    if len(text) <= limit and text.isascii() and text.isprintable() and "|" not in text:
        return text  # the common case, without a loop over every character
    out = []
    for char in text:
        code = ord(char)
        if char == "|" or code < 0x20 or 0x7F <= code < 0xA0 or char in "\u2028\u2029":
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        elif not char.isprintable() and char != " ":
            out.append(f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(char)
    result = "".join(out)
    if len(result) > limit:
        result = result[: limit - 3] + "..."
    return result


def load_der(der: bytes) -> x509.Certificate:
    """Parse a DER certificate without letting cryptography's warnings reach stderr.

    cryptography warns about negative serial numbers, which some real CA
    certificates have; Icinga would append that warning to the check output.
    Every parse failure is a ValueError (cryptography raises ``InvalidVersion``,
    which is not one, for a version field it does not know).
    """
    return _quietly(x509.load_der_x509_certificate, der)


def load_der_crl(der: bytes) -> x509.CertificateRevocationList:
    """Parse a DER CRL the same way (quietly; every failure a ValueError)."""
    return _quietly(x509.load_der_x509_crl, der)


_Parsed = TypeVar("_Parsed")


def _quietly(loader: Callable[[bytes], _Parsed], der: bytes) -> _Parsed:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return loader(der)
        except x509.InvalidVersion as exc:
            raise ValueError(f"unknown X.509 version: {exc}") from None


def _name(cert: x509.Certificate, which: str) -> x509.Name | None:
    """``cert.subject``/``cert.issuer``, or None when its strings are not decodable.

    cryptography parses names lazily and raises ValueError on first access
    when, say, a UTF8String holds bytes that are not UTF-8 (before version
    39, KeyError for a string type it does not know).
    """
    try:
        return getattr(cert, which)  # type: ignore[no-any-return]
    except (ValueError, UnicodeError, KeyError):
        return None


def _names(name: x509.Name | None, oid: x509.ObjectIdentifier) -> list[str]:
    try:
        return [str(attr.value) for attr in name.get_attributes_for_oid(oid)] if name else []
    except (ValueError, UnicodeError):
        return []


def _rfc4514(name: x509.Name | None) -> str:
    try:
        return name.rfc4514_string() if name is not None else "<undecodable name>"
    except (ValueError, UnicodeError):
        return "<undecodable name>"


def _sans(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return ()
    # DuplicateExtension and UnsupportedGeneralNameType (x400Address,
    # EDIPartyName) are not ValueErrors; found by the cryptography-vectors corpus.
    except (ValueError, UnicodeError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType):
        return ("<undecodable subjectAltName>",)
    names: list[str] = []
    for entry in ext.value:
        if isinstance(entry, x509.DNSName):
            names.append(entry.value)
        elif isinstance(entry, x509.IPAddress):
            names.append(str(entry.value))
        elif isinstance(entry, (x509.RFC822Name, x509.UniformResourceIdentifier)):
            names.append(entry.value)
    return tuple(names)


class CertFacts(NamedTuple):
    """What the plugin reports about a certificate (text fields already cleaned).

    ``issuer_name`` is the issuer's CN, or its whole DN when it has none: what
    the metrics' ``issuer`` label groups a fleet's certificates by.
    """

    name: str
    subject: str
    issuer: str
    issuer_name: str
    sans: tuple[str, ...]
    serial: str
    sha256: str
    not_before: datetime
    not_after: datetime
    self_issued: bool
    certificate: x509.Certificate

    @property
    def kind(self) -> str:
        """What was judged, as the metrics' ``kind`` label says it."""
        return "certificate"

    @classmethod
    def from_certificate(cls, cert: x509.Certificate) -> "CertFacts":
        """Extract the facts; never raises for odd-but-parsed certificates."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sans = _sans(cert)
            subject_name, issuer_name = _name(cert, "subject"), _name(cert, "issuer")
            common_names = _names(subject_name, NameOID.COMMON_NAME)
            display = common_names[0] if common_names else (sans[0] if sans else "")
            subject = _rfc4514(subject_name)
            issuer = _rfc4514(issuer_name)
            issuer_cns = _names(issuer_name, NameOID.COMMON_NAME)
            return cls(
                name=clean(display) if display else "<no CN or SAN>",
                subject=clean(subject, 200),
                issuer=clean(issuer, 200),
                issuer_name=clean(issuer_cns[0]) if issuer_cns else clean(issuer, 200),
                sans=tuple(clean(s) for s in sans[:50]),
                serial=_serial_hex(cert.serial_number),
                sha256=cert.fingerprint(hashes.SHA256()).hex(":").upper(),
                not_before=not_before(cert),
                not_after=not_after(cert),
                self_issued=subject_name is not None and subject_name == issuer_name,
                certificate=cert,
            )

    @property
    def title(self) -> str:
        """How the status line names it: ``certificate 'www.example.net'``."""
        return f"certificate '{self.name}'"

    @property
    def der(self) -> bytes:
        """The certificate's DER bytes (what "the same certificate" compares)."""
        # imported here: cryptography's serialization package pulls in SSH key
        # formats and bcrypt, which only the uptake comparison needs
        from cryptography.hazmat.primitives.serialization import Encoding

        return self.certificate.public_bytes(Encoding.DER)

    @property
    def lifetime(self) -> float:
        """notAfter - notBefore, in seconds."""
        return (self.not_after - self.not_before).total_seconds()

    def time_left(self, now: datetime) -> float:
        """notAfter - now, in seconds (negative once expired)."""
        return (self.not_after - now).total_seconds()

    def age(self, now: datetime) -> float:
        """now - notBefore, in seconds (negative when not yet valid)."""
        return (now - self.not_before).total_seconds()


def _serial_hex(serial: int) -> str:
    sign = "-" if serial < 0 else ""
    digits = f"{abs(serial):X}"
    if len(digits) % 2:
        digits = "0" + digits
    text = sign + ":".join(digits[i : i + 2] for i in range(0, len(digits), 2))
    return clean(text, 120)


def not_before(cert: x509.Certificate) -> datetime:
    """notBefore, timezone-aware UTC, with any cryptography this plugin supports."""
    try:
        return cert.not_valid_before_utc
    except AttributeError:  # before cryptography 42 (Debian 12 has 38): naive UTC only
        return cert.not_valid_before.replace(tzinfo=UTC)


def not_after(cert: x509.Certificate) -> datetime:
    """notAfter, timezone-aware UTC, with any cryptography this plugin supports."""
    try:
        return cert.not_valid_after_utc
    except AttributeError:  # before cryptography 42 (Debian 12 has 38): naive UTC only
        return cert.not_valid_after.replace(tzinfo=UTC)


def utc_minute(moment: datetime) -> str:
    """``2026-12-13 14:02 UTC``."""
    # equal datetimes in other zones print other hours: the zone is part of the key
    return _minute(moment, moment.tzinfo)


@functools.lru_cache(maxsize=4096)  # the same few dates every probe, and strftime is slow
def _minute(moment: datetime, _zone: object) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")
