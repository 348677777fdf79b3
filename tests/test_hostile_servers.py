"""Hostile loopback servers: each check ends by ``-t``, in one line, naming the cause.

Every case runs the installed console script with ``-t 2`` against a raw TCP
server on loopback that misbehaves in one way, and asserts the exit code, the
whole status line (or its cause-naming part when the OS picks the wording),
an empty stderr (no traceback, no library warning) and a wall time under
``-t`` plus 0.5 s.
"""

from __future__ import annotations

import random
import re
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from OpenSSL import SSL

from check_cert_validity.certfactory import Issued, issue
from check_cert_validity.states import State

import hostile
from conftest import NOW, NOW_ARG, RawServer, Run, plugin_command, run_measured, run_plugin

TIMEOUT = 2.0
Behaviour = Callable[[RawServer, socket.socket], None]


def leaf(common_name: str = "hostile.internal") -> Issued:
    return issue(
        not_before=NOW - timedelta(days=1),
        not_after=NOW + timedelta(days=29),
        common_name=common_name,
    )


LEAF = leaf()
LEAF_DER = LEAF.cert.public_bytes(Encoding.DER)


def silent(srv: RawServer, conn: socket.socket) -> None:
    srv.wait(30)


def close_at_once(srv: RawServer, conn: socket.socket) -> None:
    return


def reset_at_once(srv: RawServer, conn: socket.socket) -> None:
    hostile.reset(conn)


def reset_after_hello(srv: RawServer, conn: socket.socket) -> None:
    hostile.read_record(conn)
    hostile.reset(conn)


def garbage(srv: RawServer, conn: socket.socket) -> None:
    hostile.read_record(conn)
    conn.sendall(b"\x00\xff\x1b[31m|CRITICAL\n" + random.Random(6).randbytes(4096))
    srv.wait(30)


def garbage_in_a_tls_record(srv: RawServer, conn: socket.socket) -> None:
    hostile.read_record(conn)
    conn.sendall(b"\x16\x03\x03\x00\x40" + random.Random(6).randbytes(64))
    srv.wait(30)


def plain_http(srv: RawServer, conn: socket.socket) -> None:
    conn.recv(4096)
    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")


def trickle(srv: RawServer, conn: socket.socket) -> None:
    hostile.read_record(conn)
    # a plausible handshake record header, then one byte a second, forever
    for byte in b"\x16\x03\x03\x40\x00" + b"\x02" * 100000:
        conn.sendall(bytes([byte]))
        if srv.wait(1):
            return


def server_hello_then_stall(version: int) -> Behaviour:
    def behave(srv: RawServer, conn: socket.socket) -> None:
        hello = hostile.read_record(conn)
        flight = hostile.real_server_flight(hello, LEAF, version)
        conn.sendall(hostile.first_record(flight))
        srv.wait(30)

    return behave


def endless_hello_requests(srv: RawServer, conn: socket.socket) -> None:
    # HelloRequest messages (four zero bytes) are valid and ignored by a client
    # mid-handshake (RFC 5246 section 7.4.1.1): an endless, well-formed stream.
    hostile.read_record(conn)
    chunk = hostile.records(hostile.HANDSHAKE, b"\x00" * 16384) * 16
    while not srv.stopping:
        conn.sendall(chunk)


def endless_garbage(srv: RawServer, conn: socket.socket) -> None:
    hostile.read_record(conn)
    chunk = random.Random(7).randbytes(65536)
    while not srv.stopping:
        conn.sendall(chunk)


def fatal_alert(description: int) -> Behaviour:
    def behave(srv: RawServer, conn: socket.socket) -> None:
        hostile.read_record(conn)
        conn.sendall(hostile.alert(description))
        srv.wait(30)

    return behave


def serve_ders(ders: list[bytes], done: bool = True) -> Behaviour:
    def behave(srv: RawServer, conn: socket.socket) -> None:
        hello = hostile.read_record(conn)
        conn.sendall(hostile.certificate_flight(hello, ders, done))
        srv.wait(30)

    return behave


def huge_certificate_message(srv: RawServer, conn: socket.socket) -> None:
    # one Certificate message of 8 MiB (a single bogus "certificate"), all of it sent
    hello = hostile.read_record(conn)
    body = hostile.server_hello_12(hostile.pick_tls12_suite(hello))
    blob = b"\x30\x83" + (8 << 20).to_bytes(3, "big") + b"\x00" * (8 << 20)
    conn.sendall(hostile.records(hostile.HANDSHAKE, body + hostile.certificate_message([blob])))
    srv.wait(30)


def half_close_after_hello(srv: RawServer, conn: socket.socket) -> None:
    hostile.read_record(conn)
    conn.shutdown(socket.SHUT_WR)
    srv.wait(30)


def half_close_after_server_hello(srv: RawServer, conn: socket.socket) -> None:
    hello = hostile.read_record(conn)
    conn.sendall(hostile.first_record(hostile.real_server_flight(hello, LEAF, None)))
    conn.shutdown(socket.SHUT_WR)
    srv.wait(30)


@dataclass(frozen=True)
class Case:
    behave: Behaviour
    code: int
    text: str  # the status line after "CERT_VALIDITY STATE - 127.0.0.1:PORT" (a regex if regex)
    regex: bool = False


def chain_of(count: int) -> list[bytes]:
    return [LEAF_DER] * count


# OpenSSL's default max_cert_list: a Certificate message body over 100 KiB is
# refused before it is buffered whole (SSL_CTX_set_max_cert_list(3)).
CERT_LIST_LIMIT = 100 * 1024
# How many copies of LEAF fit in one Certificate message body (3-byte list length,
# 3-byte length per entry): the largest chain the plugin reads.
MOST_CERTS = (CERT_LIST_LIMIT - 3) // (3 + len(LEAF_DER))
# Peak RSS allowed for one check, hostile server or not (README "Failure modes").
MEMORY_LIMIT_MIB = 80

TIMED_OUT = ": timed out after 2s during the TLS handshake"
PEER_CLOSED = ": the peer closed the connection during the handshake"
LEAF_OK = (
    " certificate 'hostile.internal' has 29.0d left (expires 2026-12-29 12:00 UTC) "
    "| time_left=2505600s;864000:;432000:;;2592000"
)
CASES = {
    "accepts and never sends": Case(silent, 2, TIMED_OUT),
    # its kernel answers our ClientHello with a RST; whether that lands before
    # our recv() (ECONNRESET) or after the FIN was read (EOF) is a race
    "closes immediately": Case(
        close_at_once,
        2,
        r": (the peer closed the connection during the handshake"
        r"|connection reset by peer during the TLS handshake)",
        regex=True,
    ),
    # the RST may beat connect() returning, our ClientHello (send fails) or follow
    # it (recv fails): which one is the kernel's race, the cause is named in all
    "TCP RST at once": Case(
        reset_at_once,
        2,
        r": (connection reset by peer( during the TLS handshake)?"
        r"|the peer closed the connection during the handshake)",
        regex=True,
    ),
    "TCP RST after the ClientHello": Case(
        reset_after_hello, 2, ": connection reset by peer during the TLS handshake"
    ),
    "garbage": Case(garbage, 2, ": not a TLS server (it sent '\\x00\\xff\\x1b[31m\\x7cCRITICAL')"),
    "garbage in a TLS record": Case(
        garbage_in_a_tls_record, 2, ": TLS handshake failed: unexpected message"
    ),
    "plain HTTP": Case(plain_http, 2, ": not a TLS server (it sent 'HTTP/1.1 400 Bad Request')"),
    "trickles one byte a second": Case(trickle, 2, TIMED_OUT),
    "TLS 1.2 ServerHello, then stalls": Case(
        server_hello_then_stall(SSL.TLS1_2_VERSION), 2, TIMED_OUT
    ),
    "TLS 1.3 ServerHello, then stalls": Case(
        server_hello_then_stall(SSL.TLS1_3_VERSION), 2, TIMED_OUT
    ),
    "endless well-formed stream": Case(endless_hello_requests, 2, TIMED_OUT),
    "endless garbage": Case(
        endless_garbage, 2, r": not a TLS server \(it sent '[ -~]{37}\.\.\.'\)", regex=True
    ),
    "fatal alert handshake_failure": Case(
        fatal_alert(40),
        2,
        # OpenSSL 3.0 says sslv3, 3.5 ssl/tls, the wheels' 4.0 tls
        r": TLS handshake failed: (sslv3|ssl/tls|tls) alert handshake failure",
        regex=True,
    ),
    "fatal alert internal_error": Case(
        fatal_alert(80), 2, ": TLS handshake failed: tlsv1 alert internal error"
    ),
    "1,000 certificates": Case(
        serve_ders(chain_of(1000)), 2, ": TLS handshake failed: excessive message size"
    ),
    "one certificate over OpenSSL's 100 KiB limit": Case(
        serve_ders(chain_of(MOST_CERTS + 1)), 2, ": TLS handshake failed: excessive message size"
    ),
    "a chain just under the 100 KiB limit": Case(serve_ders(chain_of(MOST_CERTS)), 0, LEAF_OK),
    "an 8 MiB Certificate message": Case(
        huge_certificate_message, 2, ": TLS handshake failed: excessive message size"
    ),
    "half-closes after the ClientHello": Case(half_close_after_hello, 2, PEER_CLOSED),
    "half-closes after the ServerHello": Case(half_close_after_server_hello, 2, PEER_CLOSED),
    # the certificate arrived before the stall: judged, at the deadline
    "certificate, then stalls": Case(serve_ders([LEAF_DER], done=False), 0, LEAF_OK),
}


def assert_one_line(result: Run, prefix: str, case: Case) -> None:
    assert result.stderr == "", "no traceback, no library warning"
    assert result.stdout.count("\n") == 1, "exactly one line"
    if case.regex:
        assert re.fullmatch(re.escape(prefix) + case.text, result.first_line), result.first_line
    else:
        assert result.first_line == prefix + case.text
    assert result.seconds < TIMEOUT + 0.5


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_server(name: str, raw_server: Callable[..., RawServer]) -> None:
    case = CASES[name]
    server = raw_server(case.behave)
    args = ["-H", "127.0.0.1", "-p", str(server.port), "-t", f"{TIMEOUT:g}", "--now", NOW_ARG]
    result, peak_kib = run_measured([*plugin_command(), *args])
    assert result.code == case.code, result.stdout
    assert_one_line(
        result, f"CERT_VALIDITY {State(case.code).name} - 127.0.0.1:{server.port}", case
    )
    assert peak_kib < MEMORY_LIMIT_MIB * 1024


def test_a_fractional_timeout_is_the_deadline(raw_server: Callable[..., RawServer]) -> None:
    server = raw_server(silent)
    result = run_plugin("-H", "127.0.0.1", "-p", str(server.port), "-t", "0.7")
    assert (result.code, result.first_line) == (
        2,
        f"CERT_VALIDITY CRITICAL - 127.0.0.1:{server.port}: timed out after 0.7s "
        "during the TLS handshake",
    )
    assert 0.7 < result.seconds < 0.7 + 0.5


def test_the_memory_measurement_sees_a_big_allocation() -> None:
    # negative control for the RSS bound above: 200 MiB touched must show
    _result, peak_kib = run_measured(
        [sys.executable, "-c", "b = bytearray(200 << 20); b[::4096] = b'x' * len(b[::4096])"]
    )
    assert peak_kib > 200 * 1024


def test_limit_constants_match_the_leaf() -> None:
    # negative control for the boundary cases: MOST_CERTS really is the edge
    body = 3 + MOST_CERTS * (3 + len(LEAF_DER))
    assert body <= CERT_LIST_LIMIT < body + 3 + len(LEAF_DER)


def starttls_protocols() -> list[str]:
    """The --starttls choices the installed plugin offers (none before that option exists)."""
    from check_cert_validity.starttls import PROTOCOLS

    return list(PROTOCOLS)


@pytest.mark.parametrize("protocol", ["smtp", "imap", "pop3", "ftp", "postgres", "ldap"])
def test_starttls_server_that_never_answers(
    protocol: str, raw_server: Callable[..., RawServer]
) -> None:
    offered = starttls_protocols()
    if not offered:
        pytest.skip("--starttls is not in --help yet (being built in parallel)")
    if protocol not in offered:
        pytest.skip(f"--starttls does not offer {protocol}")
    server = raw_server(silent)
    result = run_plugin(
        "-H", "127.0.0.1", "-p", str(server.port), "-t", "2", "--starttls", protocol
    )
    assert result.code == 2
    assert result.stderr == ""
    assert result.stdout.count("\n") == 1
    assert result.first_line.startswith(
        f"CERT_VALIDITY CRITICAL - 127.0.0.1:{server.port}: timed out after 2s"
    )
    assert "STARTTLS" in result.first_line or protocol in result.first_line.lower()
    assert result.seconds < 2 + 0.5
