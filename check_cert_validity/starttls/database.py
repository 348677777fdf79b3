"""Database preambles: PostgreSQL SSLRequest and the MySQL/MariaDB SSL request.

- PostgreSQL (protocol 3, "SSL Session Encryption"): send the 8-byte
  SSLRequest; one byte answers: ``S`` go ahead, ``N`` no TLS here; a very old
  server sends an ErrorResponse (``E``). PostgreSQL 17's direct TLS needs no
  preamble at all, only ALPN "postgresql" (see the registry).
- MySQL/MariaDB (client/server protocol): the server greets first with a
  HandshakeV10 packet whose capability flags must include CLIENT_SSL; the
  client answers with a 32-byte SSLRequest packet, then starts TLS. A server
  that will not talk to us greets with an ERR packet (0xff) instead.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # only for annotations: keeps the protocol table light to import
    from check_cert_validity.starttls.dialogue import Dialogue


PG_SSL_REQUEST = struct.pack("!II", 8, 80877103)

CLIENT_LONG_PASSWORD = 0x1
CLIENT_PROTOCOL_41 = 0x200
CLIENT_SSL = 0x800
CLIENT_SECURE_CONNECTION = 0x8000
MYSQL_CLIENT_FLAGS = (
    CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_SSL | CLIENT_SECURE_CONNECTION
)
MYSQL_MAX_PACKET = 1 << 24
MYSQL_CHARSET = 45  # utf8mb4_general_ci, known to MySQL 5.5+ and every MariaDB


def pg_answer(buffer: bytes) -> tuple[bytes, int] | None:
    """``S``/``N``, or a whole ErrorResponse (``E`` + int32 length + fields)."""
    if not buffer:
        return None
    if buffer[:1] != b"E":
        return buffer[:1], 1
    if len(buffer) < 5:
        return None
    length = struct.unpack("!I", buffer[1:5])[0]
    if not 4 <= length <= 65536:
        return buffer, len(buffer)  # pre-protocol-3 text error: take what came
    if len(buffer) < 1 + length:
        return None
    return buffer[: 1 + length], 1 + length


def pg_error_text(error: bytes) -> bytes:
    """The message (``M``) field of an ErrorResponse, else the raw bytes."""
    for field in error[5:].split(b"\0"):
        if field[:1] == b"M":
            return field[1:]
    return error[1:]


def run_postgres(d: Dialogue, _domain: str) -> None:
    """SSLRequest; accept only ``S``."""
    d.send(PG_SSL_REQUEST)
    answer = d.read(pg_answer, "answer to SSLRequest")
    if answer == b"N":
        d.refused("SSLRequest", b"N (the server does not accept SSL connections)")
    if answer[:1] == b"E":
        d.refused("SSLRequest", pg_error_text(answer))
    if answer != b"S":
        d.fail(f"unexpected answer to SSLRequest: {answer!r}")


class MysqlGreeting(NamedTuple):
    """What the server's first packet says."""

    sequence: int
    ssl: bool
    version: bytes
    error: bytes | None = None


def mysql_packet(buffer: bytes) -> tuple[tuple[int, bytes], int] | None:
    """One packet: ``((sequence id, payload), consumed)``."""
    if len(buffer) < 4:
        return None
    length = int.from_bytes(buffer[:3], "little")
    if len(buffer) < 4 + length:
        return None
    return (buffer[3], buffer[4 : 4 + length]), 4 + length


def mysql_greeting(sequence: int, payload: bytes) -> MysqlGreeting:
    """Parse HandshakeV10 (or an ERR packet); ValueError for anything else."""
    if payload[:1] == b"\xff":
        code = int.from_bytes(payload[1:3], "little")
        message = payload[3:]
        if message[:1] == b"#":
            message = message[6:]
        return MysqlGreeting(sequence, False, b"", f"ERROR {code}: ".encode() + message)
    if payload[:1] != b"\x0a":
        raise ValueError(f"protocol version {payload[:1].hex() or 'missing'}, not 10")
    end = payload.find(b"\0", 1)
    if end < 0 or len(payload) < end + 1 + 4 + 8 + 1 + 2:
        raise ValueError("truncated greeting")
    flags_at = end + 1 + 4 + 8 + 1
    flags = int.from_bytes(payload[flags_at : flags_at + 2], "little")
    return MysqlGreeting(sequence, bool(flags & CLIENT_SSL), payload[1:end])


def mysql_ssl_request(sequence: int) -> bytes:
    """The SSLRequest packet that answers a greeting with sequence id ``sequence``."""
    body = struct.pack("<IIB23x", MYSQL_CLIENT_FLAGS, MYSQL_MAX_PACKET, MYSQL_CHARSET)
    return len(body).to_bytes(3, "little") + bytes([(sequence + 1) & 0xFF]) + body


def run_mysql(d: Dialogue, _domain: str) -> None:
    """Read the greeting, check CLIENT_SSL, send SSLRequest."""
    sequence, payload = d.read(mysql_packet, "greeting")
    try:
        greeting = mysql_greeting(sequence, payload)
    except ValueError as exc:
        d.fail(f"unexpected greeting ({exc}): {payload[:40]!r}")
    if greeting.error is not None:
        d.refused("the session", greeting.error)
    if not greeting.ssl:
        d.refused("SSL", b"server " + greeting.version + b" does not offer CLIENT_SSL")
    d.send(mysql_ssl_request(greeting.sequence))
