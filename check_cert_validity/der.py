"""DER (X.690) tag-length-value encoding: the LDAP StartTLS request and test certificates."""

from __future__ import annotations


def tlv(tag: int, body: bytes) -> bytes:
    """One element with a single-byte tag; the length in short or long form."""
    if len(body) < 0x80:
        return bytes([tag, len(body)]) + body
    size = len(body).to_bytes((len(body).bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body
