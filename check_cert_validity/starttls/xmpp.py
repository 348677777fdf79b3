"""XMPP client STARTTLS (RFC 6120 section 5).

Open a client stream to the domain, read ``<stream:features>``, which must
list ``<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>``, send
``<starttls/>`` and expect ``<proceed/>`` (``<failure/>`` is a refusal). The
server's XML is matched with patterns, not parsed: only these few elements
matter, and nothing from it is evaluated.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for annotations: keeps the protocol table light to import
    from check_cert_validity.starttls.dialogue import Dialogue


TLS_NS = "urn:ietf:params:xml:ns:xmpp-tls"
STARTTLS = f"<starttls xmlns='{TLS_NS}'/>".encode()

_FEATURES_START = re.compile(rb"<(?:[\w.-]+:)?features\b")
_FEATURES_END = re.compile(rb"</(?:[\w.-]+:)?features\s*>|<(?:[\w.-]+:)?features\b[^>]*/>")
_STREAM_END = re.compile(rb"</(?:[\w.-]+:)?stream\s*>")
_STREAM_ERROR = re.compile(rb"<(?:[\w.-]+:)?error\b.*?</(?:[\w.-]+:)?error\s*>", re.S)
_TLS_ANSWER = re.compile(rb"<(proceed|failure)\b[^>]*?(?:/>|>.*?</\1\s*>)", re.S)
_OFFERS_STARTTLS = re.compile(rb"<starttls\b")


_XML_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "'": "&apos;", '"': "&quot;"}


def _attribute(value: str) -> str:
    return "".join(_XML_ESCAPES.get(char, char) for char in value)


def stream_header(domain: str) -> bytes:
    """The opening of a client-to-server stream addressed to ``domain``."""
    return (
        "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
        "xmlns:stream='http://etherx.jabber.org/streams' "
        f"to='{_attribute(domain)}' version='1.0'>"
    ).encode()


def features(buffer: bytes) -> tuple[bytes, int] | None:
    """Everything up to the end of the stream features (or a stream end/error)."""
    for pattern in (_FEATURES_END, _STREAM_ERROR, _STREAM_END):
        found = pattern.search(buffer)
        if found:
            return buffer[: found.end()], found.end()
    return None


def tls_answer(buffer: bytes) -> tuple[bytes, int] | None:
    """``<proceed/>``/``<failure/>`` (or a stream end/error)."""
    for pattern in (_TLS_ANSWER, _STREAM_ERROR, _STREAM_END):
        found = pattern.search(buffer)
        if found:
            return found.group(0), found.end()
    return None


def explanation(offered: bytes) -> bytes:
    """The part of the server's opening that says why we cannot go on.

    Its stream error, else its stream features from their start (the offered
    mechanisms come first; servers add elements after them, Prosody 13 a long
    ``<limits>``), else how the stream ended.
    """
    error = _STREAM_ERROR.search(offered)
    if error:
        return error.group(0)
    start = _FEATURES_START.search(offered)
    return offered[start.start() :] if start else offered[-200:]


def run_xmpp(d: Dialogue, domain: str) -> None:
    """Stream header, features, starttls, proceed."""
    d.send(stream_header(domain))
    offered = d.read(features, "stream features")
    if not _FEATURES_END.search(offered):
        d.refused("the stream", explanation(offered))
    if not _OFFERS_STARTTLS.search(offered):
        d.refused("STARTTLS (not among the stream features)", explanation(offered))
    d.send(STARTTLS)
    answer = d.read(tls_answer, "answer to starttls")
    if not answer.startswith(b"<proceed"):
        d.refused("STARTTLS", answer)
