"""Line-based STARTTLS preambles: SMTP, LMTP, FTP, NNTP, POP3, IMAP, ManageSieve.

Parsers are pure (bytes in, ``(reply, consumed)`` or None out); the ``run_*``
functions hold the conversation, each as the RFC describes it:

- SMTP (RFC 3207) / LMTP (RFC 2033): 220 greeting, ``EHLO``/``LHLO`` -> 250,
  ``STARTTLS`` -> 220.
- FTP (RFC 4217): 220 greeting (after any 1xx), ``AUTH TLS`` -> 234.
- NNTP (RFC 4642): 200/201 greeting, ``STARTTLS`` -> 382.
- POP3 (RFC 2595): ``+OK`` greeting, ``STLS`` -> ``+OK``.
- IMAP (RFC 9051/3501): ``* OK`` greeting, ``a1 STARTTLS`` -> ``a1 OK``.
- ManageSieve (RFC 5804): capabilities ending in ``OK``, ``STARTTLS`` -> ``OK``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # only for annotations: keeps the protocol table light to import
    from check_cert_validity.starttls.dialogue import Dialogue


# What we call ourselves in EHLO/LHLO: a syntactically valid name that claims
# no real host (RFC 2606 reserves .invalid).
HELO_NAME = b"check-cert-validity.invalid"
IMAP_TAG = b"a1"


class NumericReply(NamedTuple):
    """An SMTP/FTP/NNTP-style reply: a 3-digit code (0 if none) and its raw lines."""

    code: int
    text: bytes


def line(buffer: bytes) -> tuple[bytes, int] | None:
    """One line (without its CRLF/LF)."""
    end = buffer.find(b"\n")
    if end < 0:
        return None
    return buffer[:end].rstrip(b"\r"), end + 1


def _code(text: bytes) -> int:
    return int(text[:3]) if len(text) >= 3 and text[:3].isdigit() else 0


def _until_line(buffer: bytes, last: Callable[[bytes], bool]) -> tuple[bytes, int] | None:
    """The first complete line for which ``last`` holds, and the bytes it ends at."""
    consumed = 0
    while True:
        nxt = line(buffer[consumed:])
        if nxt is None:
            return None
        text, used = nxt
        consumed += used
        if last(text):
            return text, consumed


def numeric_reply(buffer: bytes) -> tuple[NumericReply, int] | None:
    """A whole reply, multi-line ones (``250-...`` up to ``250 ...``) included."""
    first = line(buffer)
    if first is None:
        return None
    text, consumed = first
    code = _code(text)
    if code == 0 or text[3:4] != b"-":
        return NumericReply(code, text), consumed
    final = text[:3] + b" "
    rest = _until_line(buffer[consumed:], lambda more: more.startswith(final) or more == text[:3])
    if rest is None:
        return None
    consumed += rest[1]
    return NumericReply(code, buffer[:consumed]), consumed


def tagged_reply(tag: bytes) -> Callable[[bytes], tuple[bytes, int] | None]:
    """IMAP: every line up to and including the one starting with ``tag``."""
    prefix = tag + b" "
    return lambda buffer: _until_line(buffer, lambda text: text.startswith(prefix))


def imap_status(tagged: bytes) -> bytes:
    """``OK``/``NO``/``BAD`` from a tagged line (upper-cased)."""
    parts = tagged.split(b" ", 2)
    return parts[1].upper() if len(parts) > 1 else b""


def sieve_response(buffer: bytes) -> tuple[bytes, int] | None:
    """ManageSieve: lines up to the first starting with OK, NO or BYE."""
    found = _until_line(buffer, lambda text: bool(sieve_status(text)))
    return None if found is None else (buffer[: found[1]], found[1])


def sieve_status(text: bytes) -> bytes:
    """The response keyword of a ManageSieve line, or ``b""`` for other lines."""
    word = text.split(b" ", 1)[0].split(b"(", 1)[0].upper()
    return word if word in (b"OK", b"NO", b"BYE") else b""


def _last_line(reply: bytes) -> bytes:
    lines = [item for item in reply.splitlines() if item.strip()]
    return lines[-1] if lines else b""


def _numeric(d: Dialogue, greeting: set[int], steps: list[tuple[bytes, set[int], str]]) -> None:
    reply = d.read(numeric_reply, "greeting")
    while 100 <= reply.code < 200:  # FTP: "120 ready in nnn minutes", then the greeting
        reply = d.read(numeric_reply, "greeting")
    if reply.code not in greeting:
        d.refused("the session", reply.text)
    for command, accepted, name in steps:
        d.send(command)
        reply = d.read(numeric_reply, f"reply to {name}")
        if reply.code not in accepted:
            d.refused(name, reply.text)


def run_smtp(d: Dialogue) -> None:
    """SMTP: greeting, EHLO, STARTTLS."""
    hello = (b"EHLO " + HELO_NAME + b"\r\n", {250}, "EHLO")
    _numeric(d, {220}, [hello, (b"STARTTLS\r\n", {220}, "STARTTLS")])


def run_lmtp(d: Dialogue) -> None:
    """LMTP: greeting, LHLO, STARTTLS."""
    hello = (b"LHLO " + HELO_NAME + b"\r\n", {250}, "LHLO")
    _numeric(d, {220}, [hello, (b"STARTTLS\r\n", {220}, "STARTTLS")])


def run_ftp(d: Dialogue) -> None:
    """FTP: greeting, AUTH TLS."""
    _numeric(d, {220}, [(b"AUTH TLS\r\n", {234}, "AUTH TLS")])


def run_nntp(d: Dialogue) -> None:
    """NNTP: greeting, STARTTLS."""
    _numeric(d, {200, 201}, [(b"STARTTLS\r\n", {382}, "STARTTLS")])


def run_pop3(d: Dialogue) -> None:
    """POP3: greeting, STLS."""
    greeting = d.read(line, "greeting")
    if not greeting.startswith(b"+OK"):
        d.refused("the session", greeting)
    d.send(b"STLS\r\n")
    reply = d.read(line, "reply to STLS")
    if not reply.startswith(b"+OK"):
        d.refused("STLS", reply)


def run_imap(d: Dialogue) -> None:
    """IMAP: greeting, STARTTLS."""
    greeting = d.read(line, "greeting")
    if not greeting.upper().startswith(b"* OK"):
        d.refused("the session", greeting)  # BYE, or PREAUTH (STARTTLS no longer allowed)
    d.send(IMAP_TAG + b" STARTTLS\r\n")
    tagged = d.read(tagged_reply(IMAP_TAG), "reply to STARTTLS")
    if imap_status(tagged) != b"OK":
        d.refused("STARTTLS", tagged)


def run_sieve(d: Dialogue) -> None:
    """ManageSieve: capabilities, STARTTLS."""
    capabilities = d.read(sieve_response, "capabilities")
    if sieve_status(_last_line(capabilities)) != b"OK":
        d.refused("the session", _last_line(capabilities))
    d.send(b"STARTTLS\r\n")
    reply = d.read(sieve_response, "reply to STARTTLS")
    if sieve_status(_last_line(reply)) != b"OK":
        d.refused("STARTTLS", _last_line(reply))
