"""The sans-IO HTTP response reader and URL splitting: bytes in, facts or one-line errors out.

Responses are written out here by hand (RFC 9112), independently of the
reader, and fed whole and one byte at a time: a reader that only works when a
response arrives in one piece fails here. The real servers are in
tests/integration/test_http_download.py.
"""

from __future__ import annotations

import pytest

from check_cert_validity.httpfetch import FetchError, parse_url
from check_cert_validity.httpwire import HttpError, ResponseReader, request

LIMIT = 100
BODY = b"0123456789" * 3

WELL_FRAMED = {
    "content-length": b"HTTP/1.1 200 OK\r\nContent-Length: 30\r\n\r\n" + BODY,
    "chunked": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"a\r\n0123456789\r\n"
        b"14;name=value\r\n01234567890123456789\r\n"
        b"0\r\nX-Trailer: ignored\r\n\r\n"
    ),
    "close-delimited": b"HTTP/1.0 200 OK\r\nContent-Type: application/pkix-crl\r\n\r\n" + BODY,
}


def read(data: bytes, *, piece: int | None = None, close: bool = True) -> ResponseReader:
    """Feed ``data`` (in pieces of ``piece`` bytes), start the body after the head."""
    reader = ResponseReader(LIMIT)
    pieces = [data] if piece is None else [data[i : i + piece] for i in range(0, len(data), piece)]
    for chunk in pieces + ([b""] if close else []):
        reader.receive_data(chunk)
        if reader.head_done and not reader._framing:
            reader.start_body()
        if reader.finished:
            break
    return reader


@pytest.mark.parametrize("framing", WELL_FRAMED)
@pytest.mark.parametrize("piece", [None, 1, 7])
def test_each_framing_whole_and_in_pieces(framing: str, piece: int | None) -> None:
    reader = read(WELL_FRAMED[framing], piece=piece)
    assert (reader.status, reader.finished, reader.body) == (200, True, BODY)


def test_a_framed_body_ends_without_waiting_for_the_close() -> None:
    for framing in ("content-length", "chunked"):
        assert read(WELL_FRAMED[framing], close=False).finished, framing
    # negative control: only the close ends a body without framing
    assert not read(WELL_FRAMED["close-delimited"], close=False).finished


def test_the_head_is_read_before_the_body_is_asked_for() -> None:
    reader = ResponseReader(LIMIT)
    reader.receive_data(
        b"HTTP/1.1 302 Found\r\nLocation: /a\r\nlocation: /b\r\nX: 1\r\nx:  2\r\n\r\n"
    )
    assert (reader.status, reader.reason, reader.head_done) == (302, "Found", True)
    assert reader.headers == {"location": "/a", "x": "1, 2"}  # Location is no list


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the server closed the connection without a response"),
        (b"SSH-2.0-OpenSSH_9.2\r\n", "not an HTTP response: 'SSH-2.0-OpenSSH_9.2'"),
        (
            b"HTTP/1.1 200 OK\r\nContent-",
            "the server closed the connection in the response headers",
        ),
        (b"HTTP/2 200\r\n\r\n", "not an HTTP response: 'HTTP/2 200'"),
        (b"HTTP/1.1 20 OK\r\n\r\n", "not an HTTP response: 'HTTP/1.1 20 OK'"),
        (b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n", "malformed response header 'no colon'"),
        (b"HTTP/1.1 200 OK\r\nX : y\r\n\r\n", "malformed response header 'X : y'"),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 30\r\n\r\n0123456789",
            "the server closed the connection after 10 of 30 bytes of the body",
        ),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "invalid Content-Length '-1'"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\n", "invalid Content-Length '3, 4'"),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            "unsupported transfer coding 'gzip, chunked'",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\n",
            "malformed chunked body: chunk size '0x5'",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY",
            "malformed chunked body: no CRLF after a chunk",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",
            "the server closed the connection before the chunked body ended",
        ),
    ],
)
@pytest.mark.parametrize("piece", [None, 1])
def test_broken_responses_fail_with_one_line(data: bytes, message: str, piece: int | None) -> None:
    with pytest.raises(HttpError) as caught:
        read(data, piece=piece)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 101\r\n\r\n",
            "body of 101 bytes is over the limit of 100 bytes",
        ),
        (b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 101, "body is over the limit of 100 bytes"),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n",
            "body is over the limit of 100 bytes",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"32\r\n"
            + b"y" * 50
            + b"\r\n"
            b"33\r\n",
            "body is over the limit of 100 bytes",
        ),
    ],
)
def test_a_body_over_the_limit_fails_before_it_is_read(data: bytes, message: str) -> None:
    # without a close: the reader fails on what was declared or already arrived
    with pytest.raises(HttpError, match="over the"):
        read(data, close=False)
    with pytest.raises(HttpError) as caught:
        read(data, close=False, piece=1)
    assert str(caught.value) == message


@pytest.mark.parametrize("size", [LIMIT - 1, LIMIT])
def test_a_body_at_the_limit_is_read(size: int) -> None:
    data = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size + b"z" * size
    assert read(data).body == b"z" * size
    assert read(b"HTTP/1.1 200 OK\r\n\r\n" + b"z" * size).body == b"z" * size


def test_headers_that_never_end_fail_bounded() -> None:
    reader = ResponseReader(LIMIT)
    reader.receive_data(b"HTTP/1.1 200 OK\r\n")
    with pytest.raises(HttpError, match="response headers longer than 64 KiB"):
        for _ in range(100):
            reader.receive_data(b"X-Filler: " + b"f" * 1000 + b"\r\n")


def test_the_request_asks_for_one_plain_body() -> None:
    assert request("[::1]:8080", "/ca.crl", "ua/1") == (
        b"GET /ca.crl HTTP/1.1\r\nHost: [::1]:8080\r\nUser-Agent: ua/1\r\n"
        b"Accept: */*\r\nConnection: close\r\n\r\n"
    )


@pytest.mark.parametrize(
    ("url", "parts"),
    [
        ("http://ca.internal/ca.crl", ("http", "ca.internal", 80, "/ca.crl", "ca.internal")),
        ("HTTPS://CA.Internal", ("https", "ca.internal", 443, "/", "ca.internal")),
        ("http://[::1]:8080/a?b=c", ("http", "::1", 8080, "/a?b=c", "[::1]:8080")),
        ("https://[::1]/x", ("https", "::1", 443, "/x", "[::1]")),
        ("http://127.0.0.1:80/x", ("http", "127.0.0.1", 80, "/x", "127.0.0.1")),
        ("http://h/a b/\u00e9", ("http", "h", 80, "/a%20b/%C3%A9", "h")),
        ("http://h/x#frag", ("http", "h", 80, "/x", "h")),
    ],
)
def test_urls_split_into_what_the_request_needs(url: str, parts: tuple[object, ...]) -> None:
    split = parse_url(url)
    assert (split.scheme, split.host, split.port, split.target, split.host_header) == parts


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ldap://ca.internal/cn=CA", "not an http or https URL: 'ldap://ca.internal/cn=CA'"),
        ("ca.internal/ca.crl", "not an http or https URL: 'ca.internal/ca.crl'"),
        ("http:///ca.crl", "no host in the URL 'http:///ca.crl'"),
        ("http://h:99999/", "invalid URL 'http://h:99999/': Port out of range 0-65535"),
        ("gopher://h|x\x00/", "not an http or https URL: 'gopher://h\\x7cx\\x00/'"),
    ],
)
def test_urls_we_cannot_follow_say_why(url: str, message: str) -> None:
    with pytest.raises(FetchError) as caught:
        parse_url(url)
    assert str(caught.value) == message
