"""Hostile TLS peers, written byte by byte: records, handshake messages, flights.

A real TLS library will not send a broken or endless handshake, so these
servers write the wire format themselves (RFC 5246 section 6.2 records,
section 7.4 handshake messages). The plugin's own TLS stack (OpenSSL via
pyOpenSSL) is never mocked: it reads these bytes from a real socket.
Used by ``test_hostile_servers.py``, ``test_strange_certificates.py`` and
``bench/memory.py``.
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Iterable, Sequence

from OpenSSL import SSL

from check_cert_validity.certfactory import Issued
from check_cert_validity.der import tlv
from check_cert_validity.probe import load_identity

HANDSHAKE = 22
ALERT = 21
MAX_FRAGMENT = 16384


def read_record(conn: socket.socket) -> bytes:
    """One whole TLS record (header included) from the client, or ``b""`` at EOF."""
    header = _read_exactly(conn, 5)
    if len(header) < 5:
        return b""
    return header + _read_exactly(conn, struct.unpack("!H", header[3:5])[0])


def _read_exactly(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def records(content_type: int, body: bytes, version: bytes = b"\x03\x03") -> bytes:
    """``body`` cut into records of at most 2^14 bytes."""
    out = []
    for start in range(0, max(len(body), 1), MAX_FRAGMENT):
        fragment = body[start : start + MAX_FRAGMENT]
        out.append(bytes([content_type]) + version + struct.pack("!H", len(fragment)) + fragment)
    return b"".join(out)


def handshake_message(msg_type: int, body: bytes) -> bytes:
    """A handshake message: type, 24-bit length, body."""
    return bytes([msg_type]) + len(body).to_bytes(3, "big") + body


def offered_suites(client_hello: bytes) -> list[int]:
    """The cipher suites a ClientHello record offers, in order."""
    body = client_hello[5 + 4 :]  # record header, handshake header
    at = 2 + 32  # client_version, random
    at += 1 + body[at]  # session id
    length = struct.unpack("!H", body[at : at + 2])[0]
    raw = body[at + 2 : at + 2 + length]
    return [struct.unpack("!H", raw[i : i + 2])[0] for i in range(0, len(raw), 2)]


def pick_tls12_suite(client_hello: bytes) -> int:
    """A TLS 1.2 suite the client offered (ECDHE-RSA-AES128-GCM-SHA256 if it can)."""
    offered = offered_suites(client_hello)
    for preferred in (0xC02F, 0x009C, 0x002F):
        if preferred in offered:
            return preferred
    usable = [s for s in offered if s >> 8 != 0x13 and s not in (0x00FF, 0x5600)]
    return usable[0]


def server_hello_12(suite: int) -> bytes:
    """A TLS 1.2 ServerHello: no session id, no compression, no extensions."""
    body = b"\x03\x03" + os.urandom(32) + b"\x00" + struct.pack("!H", suite) + b"\x00"
    return handshake_message(2, body)


def certificate_message(ders: Iterable[bytes]) -> bytes:
    """A TLS 1.2 Certificate message carrying these bytes as certificates, unparsed."""
    entries = b"".join(len(der).to_bytes(3, "big") + der for der in ders)
    return handshake_message(11, len(entries).to_bytes(3, "big") + entries)


def certificate_flight(client_hello: bytes, ders: Sequence[bytes], done: bool = True) -> bytes:
    """ServerHello + Certificate(ders) (+ ServerHelloDone): serves arbitrary bytes."""
    messages = server_hello_12(pick_tls12_suite(client_hello)) + certificate_message(ders)
    if done:
        messages += handshake_message(14, b"")
    return records(HANDSHAKE, messages)


def alert(description: int, level: int = 2) -> bytes:
    """An alert record (level 2: fatal)."""
    return records(ALERT, bytes([level, description]))


def real_server_flight(client_hello: bytes, leaf: Issued, max_version: int | None) -> bytes:
    """What a real OpenSSL server answers to ``client_hello`` (memory BIOs)."""
    context = SSL.Context(SSL.TLS_SERVER_METHOD)
    load_identity(context, [leaf.cert], leaf.key)
    if max_version:
        context.set_max_proto_version(max_version)
    server = SSL.Connection(context, None)
    server.set_accept_state()
    server.bio_write(client_hello)
    try:
        server.do_handshake()
    except SSL.WantReadError:
        pass
    return server.bio_read(1 << 20)


def first_record(data: bytes) -> bytes:
    """The first TLS record in ``data``."""
    return data[: 5 + struct.unpack("!H", data[3:5])[0]]


def reset(conn: socket.socket) -> None:
    """Make the coming close() send a TCP RST instead of a FIN."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


# --- hostile certificate bytes ------------------------------------------------
# The plugin checks no signatures, so a signed certificate can be edited after
# signing: these helpers rewrite DER (X.690) where no builder would go.


def _children(body: bytes) -> list[bytes]:
    """The elements of a constructed DER body, each whole (tag, length, value)."""
    out = []
    at = 0
    while at < len(body):
        first = body[at + 1]
        if first < 0x80:
            start, size = at + 2, first
        else:
            count = first & 0x7F
            start = at + 2 + count
            size = int.from_bytes(body[at + 2 : start], "big")
        out.append(body[at : start + size])
        at = start + size
    return out


def _value_of(element: bytes) -> bytes:
    first = element[1]
    start = 2 if first < 0x80 else 2 + (first & 0x7F)
    return element[start:]


def with_serial(der: bytes, content: bytes) -> bytes:
    """``der`` with the serialNumber INTEGER's content bytes replaced (any length)."""
    tbs, algorithm, signature = _children(_value_of(der))
    fields = _children(_value_of(tbs))
    index = 1 if fields[0][0] == 0xA0 else 0  # [0] version is optional
    fields[index] = tlv(0x02, content)
    return tlv(0x30, tlv(0x30, b"".join(fields)) + algorithm + signature)


def with_string(der: bytes, placeholder: str, tag: int, content: bytes) -> bytes:
    """``der`` with the UTF8String ``placeholder`` replaced by ``content`` under ``tag``."""
    old, new = tlv(0x0C, placeholder.encode()), tlv(tag, content)
    tbs, algorithm, signature = _children(_value_of(der))
    body = _value_of(tbs)
    assert old in body, "placeholder not found"
    return tlv(0x30, tlv(0x30, _replace(body, old, new)) + algorithm + signature)


def _replace(body: bytes, old: bytes, new: bytes) -> bytes:
    """Replace the element ``old`` in a DER body, re-encoding the lengths around it."""
    out = []
    for element in _children(body):
        if element == old:
            element = new
        elif element[0] & 0x20:  # constructed: SEQUENCE, SET, [n] explicit
            element = tlv(element[0], _replace(_value_of(element), old, new))
        out.append(element)
    return b"".join(out)
