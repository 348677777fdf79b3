"""DER (X.690) tag-length-value encoding: the LDAP StartTLS request, test certificates,
and the framing checks that tell a damaged keystore from a wrong password."""

from __future__ import annotations


def tlv(tag: int, body: bytes) -> bytes:
    """One element with a single-byte tag; the length in short or long form."""
    if len(body) < 0x80:
        return bytes([tag, len(body)]) + body
    size = len(body).to_bytes((len(body).bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body


def header(data: bytes, offset: int = 0) -> tuple[int, int, int]:
    """The element at ``offset``: its tag, where its body starts and where it ends.

    Single-byte tags and definite lengths only (what DER allows for the
    structures read here); raises ValueError for anything else. The end is
    what the length says, which lies past ``len(data)`` when the data was cut.
    """
    if offset + 2 > len(data):
        raise ValueError("cut inside an element's header")
    tag, first = data[offset], data[offset + 1]
    if tag == 0:  # end-of-contents exists in BER only; in DER it is zeros where data was
        raise ValueError("zero bytes where an element should be")
    if tag & 0x1F == 0x1F:
        raise ValueError("a multi-byte tag")
    if first < 0x80:
        return tag, offset + 2, offset + 2 + first
    count = first & 0x7F
    if count == 0 or count > 4:
        raise ValueError("an indefinite or oversized length")
    start = offset + 2 + count
    if start > len(data):
        raise ValueError("cut inside an element's length")
    return tag, start, start + int.from_bytes(data[offset + 2 : start], "big")


def check_nested(data: bytes, start: int, end: int, depth: int = 0) -> None:
    """Every element in ``data[start:end]``, and inside each constructed one, is whole.

    Raises ValueError naming the first fault: an element that runs past its
    container (a cut file) or a malformed header.
    """
    if depth > 32:
        raise ValueError("nested too deeply")
    while start < end:
        tag, body, stop = header(data, start)
        if stop > end:
            raise ValueError("an element runs past the end of what holds it")
        if tag & 0x20:
            check_nested(data, body, stop, depth + 1)
        start = stop
