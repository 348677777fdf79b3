"""The pure halves of the STARTTLS protocols: requests built, replies parsed.

Replies are fed one byte at a time, as a slow peer would deliver them: a
parser must say "incomplete" (None) until the last byte is there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from check_cert_validity import cli, connection
from check_cert_validity.starttls import PROTOCOLS, database, ldap, text, xmpp
from check_cert_validity.starttls.dialogue import quote


def feed_bytewise(parser: Callable[[bytes], tuple[Any, int] | None], data: bytes) -> Any:
    for end in range(len(data)):
        assert parser(data[:end]) is None, f"complete after {end} of {len(data)} bytes"
    parsed = parser(data + b"trailing")
    assert parsed is not None
    reply, consumed = parsed
    assert consumed == len(data)
    return reply


def test_multiline_smtp_reply() -> None:
    reply = feed_bytewise(text.numeric_reply, b"250-mx\r\n250-STARTTLS\r\n250 SIZE\r\n")
    assert reply.code == 250
    assert reply.text.endswith(b"250 SIZE\r\n")


def test_ftp_multiline_reply_with_uncoded_lines() -> None:
    reply = feed_bytewise(text.numeric_reply, b"220-hi\r\n 220 not the end\r\n220 end\n")
    assert reply.code == 220


def test_garbage_instead_of_a_code() -> None:
    assert text.numeric_reply(b"HTTP/1.1 400\r\n") == (text.NumericReply(0, b"HTTP/1.1 400"), 14)


def test_imap_tagged_reply_after_untagged_lines() -> None:
    parse = text.tagged_reply(b"a1")
    tagged = feed_bytewise(parse, b"* OK still here\r\na10 not ours\r\na1 OK go\r\n")
    assert tagged == b"a1 OK go"
    assert text.imap_status(tagged) == b"OK"


def test_sieve_response_ends_at_ok_no_or_bye() -> None:
    caps = b'"IMPLEMENTATION" "x"\r\n"STARTTLS"\r\nOK "ready"\r\n'
    assert feed_bytewise(text.sieve_response, caps) == caps
    assert text.sieve_status(b'NO (TRYLATER) "busy"') == b"NO"
    assert text.sieve_status(b'"OK" "a capability, not a response"') == b""


def test_ldap_request_is_the_rfc_4511_encoding() -> None:
    assert ldap.starttls_request() == (
        bytes.fromhex("301d02010177188016") + b"1.3.6.1.4.1.1466.20037"
    )


def test_ldap_response_with_long_form_length() -> None:
    diag = b"d" * 200
    inner = b"\x0a\x01\x35\x04\x00\x04\x81\xc8" + diag
    op = b"\x78\x81" + bytes([len(inner)]) + inner
    body = b"\x02\x01\x01" + op
    message = b"\x30\x81" + bytes([len(body)]) + body
    result = feed_bytewise(ldap.extended_response, message)
    assert (result.message_id, result.code, result.diagnostic) == (1, 53, diag)
    assert result.describe().startswith(b"resultCode 53 (unwillingToPerform): ddd")


def test_ldap_rejects_what_is_not_an_ldap_message() -> None:
    with pytest.raises(ValueError, match="not an LDAPMessage"):
        ldap.extended_response(b"220 smtp here\r\n")


def test_postgres_answers() -> None:
    assert database.PG_SSL_REQUEST == bytes.fromhex("0000000804d2162f")
    assert database.pg_answer(b"S") == (b"S", 1)
    error = b"E\x00\x00\x00\x1dSFATAL\x00Mno pg_hba entry\x00\x00"
    assert feed_bytewise(database.pg_answer, error) == error
    assert database.pg_error_text(error) == b"no pg_hba entry"


def test_mysql_greeting_and_ssl_request() -> None:
    payload = b"\x0a8.0.36\x00" + b"\x07\x00\x00\x00" + b"12345678" + b"\x00" + b"\xff\xff"
    packet = len(payload).to_bytes(3, "little") + b"\x00" + payload
    sequence, body = feed_bytewise(database.mysql_packet, packet)
    greeting = database.mysql_greeting(sequence, body)
    assert (greeting.ssl, greeting.version) == (True, b"8.0.36")
    request = database.mysql_ssl_request(sequence)
    assert len(request) == 36 and request[:4] == b"\x20\x00\x00\x01"
    with pytest.raises(ValueError, match="protocol version 09"):
        database.mysql_greeting(0, b"\x09old")


def test_xmpp_features_and_answer() -> None:
    stream = b"<stream:stream><stream:features><starttls xmlns='x'/></stream:features>"
    assert feed_bytewise(xmpp.features, stream) == stream
    assert feed_bytewise(xmpp.tls_answer, b"<proceed xmlns='x'/>") == b"<proceed xmlns='x'/>"
    assert xmpp.stream_header("a'b<c").endswith(b"to='a&apos;b&lt;c' version='1.0'>")


OPENING = (
    b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    b"xmlns:stream='http://etherx.jabber.org/streams' id='9f3c' from='chat.example' "
    b"version='1.0'>"
)
MECHANISMS = (
    b"<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>ANONYMOUS</mechanism>"
    b"</mechanisms>"
)
# what Prosody 13 sends after the mechanisms (XEP-0478 stream limits)
LIMITS = (
    b"<limits xmlns='urn:xmpp:stream-limits:0'><max-bytes>524288</max-bytes>"
    b"<idle-seconds>840</idle-seconds></limits>"
)


@pytest.mark.parametrize(
    ("offered", "quoted"),
    [
        # without STARTTLS: the features from their start, the mechanisms first
        (
            OPENING + b"<stream:features>" + MECHANISMS + LIMITS + b"</stream:features>",
            "'<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
            "<mechanism>ANONYMOUS</mechanism></mechanisms>"
            "<limits xmlns='urn:xmpp:stream-limits:0'><...'",
        ),
        (OPENING + b"<features/>", "'<features/>'"),
        # a stream error: the error element, not the stream's attributes before it
        (
            OPENING + b"<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'"
            b"/></stream:error></stream:stream>",
            "'<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
            "</stream:error>'",
        ),
        # the stream simply ends: how it ended
        (b"<stream:stream></stream:stream>", "'<stream:stream></stream:stream>'"),
    ],
)
def test_xmpp_refusal_quotes_what_explains_it(offered: bytes, quoted: str) -> None:
    assert quote(xmpp.explanation(offered)) == quoted


@pytest.mark.parametrize(
    ("proto", "port"),
    [
        ("smtp", 25),
        ("lmtp", 24),
        ("imap", 143),
        ("pop3", 110),
        ("ftp", 21),
        ("nntp", 119),
        ("sieve", 4190),
        ("xmpp", 5222),
        ("ldap", 389),
        ("postgres", 5432),
        ("postgres-direct", 5432),
        ("mysql", 3306),
    ],
)
def test_default_port_follows_the_protocol(proto: str, port: int) -> None:
    args, _policy = cli.parse(["-H", "db.internal", "--starttls", proto])
    endpoint, _fetch = connection.plan(args)
    assert (endpoint.port, endpoint.label) == (port, f"db.internal:{port}")
    args, _policy = cli.parse(["-H", "db.internal", "-P", proto, "-p", "6000"])
    assert connection.plan(args)[0].port == 6000


def test_every_protocol_has_a_default_port_test() -> None:
    assert len(PROTOCOLS) == 12


def test_no_starttls_means_443() -> None:
    args, _policy = cli.parse(["-H", "web.internal"])
    assert connection.plan(args)[0].port == 443
