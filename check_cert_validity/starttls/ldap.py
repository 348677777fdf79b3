"""LDAP StartTLS (RFC 4511 section 4.14): one extended operation, in BER.

The request is a fixed LDAPMessage: messageID 1, ExtendedRequest with
requestName 1.3.6.1.4.1.1466.20037. The reply is an ExtendedResponse whose
resultCode must be 0 (success). A server may instead send a Notice of
Disconnection (messageID 0); either way its diagnosticMessage is quoted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from check_cert_validity.der import tlv

if TYPE_CHECKING:  # only for annotations: keeps the protocol table light to import
    from check_cert_validity.starttls.dialogue import Dialogue


STARTTLS_OID = b"1.3.6.1.4.1.1466.20037"
_EXTENDED_REQUEST = 0x77  # [APPLICATION 23], constructed
_EXTENDED_RESPONSE = 0x78  # [APPLICATION 24], constructed
_RESULT_NAMES = {
    1: "operationsError",
    2: "protocolError",
    51: "busy",
    52: "unavailable",
    53: "unwillingToPerform",
    80: "other",
}


def starttls_request(message_id: int = 1) -> bytes:
    """The BER-encoded StartTLS ExtendedRequest."""
    op = tlv(_EXTENDED_REQUEST, tlv(0x80, STARTTLS_OID))
    return tlv(0x30, tlv(0x02, bytes([message_id])) + op)


def readtlv(data: bytes, pos: int) -> tuple[int, int, int] | None:
    """``(tag, value_start, value_end)`` at ``pos``, None if incomplete.

    Raises ValueError on encodings LDAP never uses (long tags, indefinite
    or absurd lengths).
    """
    if len(data) < pos + 2:
        return None
    tag, first = data[pos], data[pos + 1]
    if tag & 0x1F == 0x1F:
        raise ValueError("multi-byte BER tag")
    if first < 0x80:
        start = pos + 2
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4:
            raise ValueError("unsupported BER length")
        if len(data) < pos + 2 + count:
            return None
        length = int.from_bytes(data[pos + 2 : pos + 2 + count], "big")
        start = pos + 2 + count
    if len(data) < start + length:
        return None
    return tag, start, start + length


class LdapResult(NamedTuple):
    """The parts of an ExtendedResponse we judge and quote."""

    message_id: int
    code: int
    diagnostic: bytes

    def describe(self) -> bytes:
        """resultCode with its name, and the server's diagnostic message."""
        name = _RESULT_NAMES.get(self.code, "")
        text = f"resultCode {self.code}{f' ({name})' if name else ''}".encode()
        return text + (b": " + self.diagnostic if self.diagnostic else b"")


def extended_response(buffer: bytes) -> tuple[LdapResult, int] | None:
    """Parse one LDAPMessage carrying an ExtendedResponse (ValueError if not)."""
    if buffer[:1] not in (b"", b"\x30"):
        raise ValueError(f"not an LDAPMessage (tag 0x{buffer[0]:02x})")
    outer = readtlv(buffer, 0)
    if outer is None:
        return None
    _tag, start, end = outer
    parts: list[tuple[int, int, int]] = []
    pos = start
    while pos < end and len(parts) < 2:
        item = readtlv(buffer[:end], pos)
        if item is None:
            raise ValueError("truncated LDAPMessage")
        parts.append(item)
        pos = item[2]
    if len(parts) < 2 or parts[0][0] != 0x02 or parts[1][0] != _EXTENDED_RESPONSE:
        raise ValueError("not an ExtendedResponse")
    message_id = int.from_bytes(buffer[parts[0][1] : parts[0][2]], "big")
    fields: list[bytes] = []
    pos = parts[1][1]
    while pos < parts[1][2] and len(fields) < 3:
        item = readtlv(buffer[: parts[1][2]], pos)
        if item is None:
            raise ValueError("truncated ExtendedResponse")
        fields.append(buffer[item[1] : item[2]])
        pos = item[2]
    if len(fields) < 3:
        raise ValueError("ExtendedResponse without an LDAPResult")
    code = int.from_bytes(fields[0], "big")
    return LdapResult(message_id, code, fields[2]), end


def run_ldap(d: Dialogue, _domain: str) -> None:
    """Send the StartTLS extended request; succeed on resultCode 0."""
    d.send(starttls_request())

    def parse(buffer: bytes) -> tuple[LdapResult, int] | None:
        try:
            return extended_response(buffer)
        except ValueError as exc:
            d.fail(f"unexpected reply ({exc}): {buffer[:40].hex()}")

    result = d.read(parse, "StartTLS response")
    if result.message_id == 0:
        d.refused("StartTLS (notice of disconnection)", result.describe())
    if result.code != 0:
        d.refused("StartTLS", result.describe())
