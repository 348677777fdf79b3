"""Every --starttls protocol against a loopback server speaking it byte for byte.

The server scripts are written out here from the RFCs (and, for MySQL, the
documented HandshakeV10/SSLRequest packets), independently of the client
code: the server records any byte the plugin sends that differs. Each
protocol has a success (whole status line), a refusal (CRITICAL naming the
protocol and quoting the reply) and a negative control (without --starttls
the same server yields no certificate).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator

import pytest
from fakeservers import ScriptedServer, Step

from check_cert_validity.certfactory import Issued

from conftest import NOW_ARG, RawServer, run_plugin

SMTP_EHLO = b"EHLO check-cert-validity.invalid\r\n"
PG_SSLREQUEST = bytes.fromhex("00000008 04d2162f")
LDAP_STARTTLS = bytes.fromhex("301d020101 7718 8016") + b"1.3.6.1.4.1.1466.20037"
XMPP_OPEN = (
    b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    b"xmlns:stream='http://etherx.jabber.org/streams' to='chat.example' version='1.0'>"
)
XMPP_FEATURES = (
    b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    b"xmlns:stream='http://etherx.jabber.org/streams' id='4e7a' from='chat.example' "
    b"version='1.0' xml:lang='en'><stream:features><starttls "
    b"xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls><mechanisms "
    b"xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms>"
    b"</stream:features>"
)


def mysql_greeting(capabilities_low: int) -> bytes:
    payload = (
        b"\x0a5.5.5-10.11.6-MariaDB-0+deb12u1\x00"
        + b"\x01\x00\x00\x00"  # connection id
        + b"abcdefgh"  # auth-plugin-data part 1
        + b"\x00"  # filler
        + struct.pack("<H", capabilities_low)
        + b"\x2d"  # character set
        + b"\x02\x00"  # status flags
        + b"\xff\x81"  # capabilities, upper 2 bytes
        + b"\x15"  # auth-plugin-data length
        + b"\x00" * 10
        + b"ijklmnopqrst\x00"
        + b"mysql_native_password\x00"
    )
    return len(payload).to_bytes(3, "little") + b"\x00" + payload


# 32-byte SSLRequest, sequence id 1: flags LONG_PASSWORD|PROTOCOL_41|SSL|SECURE_CONNECTION,
# max packet 16 MiB, charset 45, 23 reserved zero bytes.
MYSQL_SSLREQUEST = bytes.fromhex("200000 01 018a0000 00000001 2d") + b"\x00" * 23
MYSQL_HOST_BLOCKED = b"\xff\x6a\x04#HY000Host '127.0.0.1' is not allowed to connect"
LDAP_OK = bytes.fromhex("302402010178 1f 0a0100 0400 0400 8a16") + b"1.3.6.1.4.1.1466.20037"
LDAP_REFUSED = bytes.fromhex("302a020101 7825 0a0102 0400 041e") + b"unsupported extended operation"

# protocol: (greeting/request/reply steps before TLS, how a refusal looks, refused line tail)
CASES: dict[str, tuple[list[Step], list[Step], str]] = {
    "smtp": (
        [
            ("send", b"220 mx.example ESMTP Postfix (Debian/GNU)\r\n"),
            ("expect", SMTP_EHLO),
            ("send", b"250-mx.example\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n"),
            ("expect", b"STARTTLS\r\n"),
            ("send", b"220 2.0.0 Ready to start TLS\r\n"),
        ],
        [
            ("send", b"220 mx.example ESMTP\r\n"),
            ("expect", SMTP_EHLO),
            ("send", b"250 mx.example\r\n"),
            ("expect", b"STARTTLS\r\n"),
            ("send", b"454 4.7.0 TLS not available due to local problem\r\n"),
        ],
        "SMTP server refused STARTTLS: '454 4.7.0 TLS not available due to local problem'",
    ),
    "lmtp": (
        [
            ("send", b"220 lmtp.example Dovecot ready.\r\n"),
            ("expect", b"LHLO check-cert-validity.invalid\r\n"),
            ("send", b"250-lmtp.example\r\n250-STARTTLS\r\n250-8BITMIME\r\n250 PIPELINING\r\n"),
            ("expect", b"STARTTLS\r\n"),
            ("send", b"220 2.0.0 Begin TLS negotiation.\r\n"),
        ],
        [
            ("send", b"220 lmtp.example Dovecot ready.\r\n"),
            ("expect", b"LHLO check-cert-validity.invalid\r\n"),
            ("send", b"250-lmtp.example\r\n250 PIPELINING\r\n"),
            ("expect", b"STARTTLS\r\n"),
            ("send", b"502 5.5.2 Unknown command\r\n"),
        ],
        "LMTP server refused STARTTLS: '502 5.5.2 Unknown command'",
    ),
    "imap": (
        [
            ("send", b"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] Dovecot ready.\r\n"),
            ("expect", b"a1 STARTTLS\r\n"),
            ("send", b"a1 OK Begin TLS negotiation now.\r\n"),
        ],
        [
            ("send", b"* OK [CAPABILITY IMAP4rev1] ready.\r\n"),
            ("expect", b"a1 STARTTLS\r\n"),
            ("send", b"* BYE going away\r\na1 BAD Unknown command.\r\n"),
        ],
        "IMAP server refused STARTTLS: 'a1 BAD Unknown command.'",
    ),
    "pop3": (
        [
            ("send", b"+OK Dovecot ready.\r\n"),
            ("expect", b"STLS\r\n"),
            ("send", b"+OK Begin TLS negotiation now.\r\n"),
        ],
        [
            ("send", b"+OK ready\r\n"),
            ("expect", b"STLS\r\n"),
            ("send", b"-ERR Unknown command: STLS\r\n"),
        ],
        "POP3 server refused STLS: '-ERR Unknown command: STLS'",
    ),
    "ftp": (
        [
            ("send", b"220-FTP server ready.\r\n this line has no code\r\n220 Go ahead.\r\n"),
            ("expect", b"AUTH TLS\r\n"),
            ("send", b"234 AUTH TLS successful\r\n"),
        ],
        [
            ("send", b"220 ready\r\n"),
            ("expect", b"AUTH TLS\r\n"),
            ("send", b"534 Local policy on server does not allow TLS\r\n"),
        ],
        "FTP server refused AUTH TLS: '534 Local policy on server does not allow TLS'",
    ),
    "nntp": (
        [
            ("send", b"200 news.example InterNetNews NNRP server INN 2.7.1 ready\r\n"),
            ("expect", b"STARTTLS\r\n"),
            ("send", b"382 Continue with TLS negotiation\r\n"),
        ],
        [
            ("send", b"201 news.example ready (no posting)\r\n"),
            ("expect", b"STARTTLS\r\n"),
            ("send", b"580 Can not initiate TLS negotiation\r\n"),
        ],
        "NNTP server refused STARTTLS: '580 Can not initiate TLS negotiation'",
    ),
    "sieve": (
        [
            (
                "send",
                b'"IMPLEMENTATION" "Dovecot Pigeonhole"\r\n"SIEVE" "fileinto"\r\n'
                b'"SASL" ""\r\n"STARTTLS"\r\n"VERSION" "1.0"\r\nOK "Dovecot ready."\r\n',
            ),
            ("expect", b"STARTTLS\r\n"),
            ("send", b'OK "Begin TLS negotiation now."\r\n'),
        ],
        [
            ("send", b'"IMPLEMENTATION" "x"\r\nOK "ready"\r\n'),
            ("expect", b"STARTTLS\r\n"),
            ("send", b'NO "TLS support is not enabled."\r\n'),
        ],
        "ManageSieve server refused STARTTLS: 'NO \"TLS support is not enabled.\"'",
    ),
    "xmpp": (
        [
            ("expect", XMPP_OPEN),
            ("send", XMPP_FEATURES),
            ("expect", b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"),
            ("send", b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"),
        ],
        [
            ("expect", XMPP_OPEN),
            ("send", XMPP_FEATURES),
            ("expect", b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"),
            ("send", b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:stream>"),
        ],
        "XMPP server refused STARTTLS: '<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>'",
    ),
    "ldap": (
        [("expect", LDAP_STARTTLS), ("send", LDAP_OK)],
        [("expect", LDAP_STARTTLS), ("send", LDAP_REFUSED)],
        "LDAP server refused StartTLS: 'resultCode 2 (protocolError): "
        "unsupported extended operation'",
    ),
    "postgres": (
        [("expect", PG_SSLREQUEST), ("send", b"S")],
        [("expect", PG_SSLREQUEST), ("send", b"N")],
        "PostgreSQL server refused SSLRequest: 'N (the server does not accept SSL connections)'",
    ),
    "mysql": (
        [("send", mysql_greeting(0xFFFE)), ("expect", MYSQL_SSLREQUEST)],
        [("send", mysql_greeting(0xF7FE))],
        "MySQL server refused SSL: 'server 5.5.5-10.11.6-MariaDB-0+deb12u1 does not offer "
        "CLIENT_SSL'",
    ),
}


@pytest.fixture
def scripted() -> Iterator[Callable[..., ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def start(script: list[Step], chain: list[Issued], **kwargs: object) -> ScriptedServer:
        server = ScriptedServer(script, chain, **kwargs)  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def plugin(port: int, proto: str | None, *extra: str) -> tuple[int, str]:
    host = (
        ["-H", "chat.example", "--resolve", "127.0.0.1"] if proto == "xmpp" else ["-H", "127.0.0.1"]
    )
    starttls = ["--starttls", proto] if proto else []
    result = run_plugin(*host, "-p", str(port), *starttls, "--now", NOW_ARG, *extra)
    assert result.stderr == ""
    return result.code, result.first_line


@pytest.mark.parametrize("proto", sorted(CASES))
def test_starttls_reads_the_certificate(
    proto: str, scripted: Callable, leaf_factory: Callable
) -> None:
    chain = [leaf_factory(age=2, lifetime=30, common_name=f"{proto}.internal")]
    server = scripted([*CASES[proto][0], ("tls", None)], chain)
    code, line = plugin(server.port, proto)
    label = "chat.example" if proto == "xmpp" else "127.0.0.1"
    assert (code, line) == (
        0,
        f"CERT_VALIDITY OK - {label}:{server.port} certificate '{proto}.internal' has 28.0d "
        "left (expires 2026-12-28 12:00 UTC) | time_left=2419200s;864000:;432000:;;2592000",
    )
    assert server.mismatches == []
    assert server.handshakes == 1


@pytest.mark.parametrize("proto", sorted(CASES))
def test_refusal_is_critical_and_quotes_the_server(
    proto: str, scripted: Callable, leaf_factory: Callable
) -> None:
    chain = [leaf_factory(age=2, lifetime=30)]
    server = scripted(CASES[proto][1], chain)
    code, line = plugin(server.port, proto)
    label = "chat.example" if proto == "xmpp" else "127.0.0.1"
    assert (code, line) == (2, f"CERT_VALIDITY CRITICAL - {label}:{server.port}: {CASES[proto][2]}")
    assert server.mismatches == []
    assert server.handshakes == 0


@pytest.mark.parametrize("proto", sorted(CASES))
def test_negative_control_without_starttls(
    proto: str, scripted: Callable, leaf_factory: Callable
) -> None:
    server = scripted([*CASES[proto][0], ("tls", None)], [leaf_factory(age=2, lifetime=30)])
    code, _line = plugin(server.port, None, "-t", "3")
    assert code == 2
    assert server.handshakes == 0


def test_mysql_error_greeting_is_quoted(scripted: Callable, leaf_factory: Callable) -> None:
    packet = len(MYSQL_HOST_BLOCKED).to_bytes(3, "little") + b"\x00" + MYSQL_HOST_BLOCKED
    server = scripted([("send", packet)], [leaf_factory(age=2, lifetime=30)])
    code, line = plugin(server.port, "mysql")
    assert (code, line) == (
        2,
        f"CERT_VALIDITY CRITICAL - 127.0.0.1:{server.port}: MySQL server refused the session: "
        "'ERROR 1130: Host '127.0.0.1' is not allowed to connect'",
    )


def test_postgres_direct_offers_alpn(scripted: Callable, leaf_factory: Callable) -> None:
    chain = [leaf_factory(age=2, lifetime=30, common_name="pg17.internal")]
    server = scripted([("tls", None)], chain, alpn=["postgresql"])
    code, line = plugin(server.port, "postgres-direct")
    assert code == 0
    assert f"127.0.0.1:{server.port} certificate 'pg17.internal' has 28.0d left" in line
    assert server.alpn_seen == ["postgresql"]
    # negative control: a plain check offers no ALPN, which PostgreSQL 17 would reject
    assert plugin(server.port, None)[0] == 0
    assert server.alpn_seen == ["postgresql", None]


def test_hostile_refusal_text_is_escaped(scripted: Callable, leaf_factory: Callable) -> None:
    server = scripted(
        [("send", b"+OK\r\n"), ("expect", b"STLS\r\n"), ("send", b"-ERR x|y\x1b[31mCRIT\r\n")],
        [leaf_factory(age=2, lifetime=30)],
    )
    code, line = plugin(server.port, "pop3")
    assert code == 2
    assert line.endswith("POP3 server refused STLS: '-ERR x\\x7cy\\x1b[31mCRIT'")
    assert line.count("|") == 0


def test_endless_reply_is_cut_off(raw_server: Callable) -> None:
    def flood(srv: RawServer, conn) -> None:  # type: ignore[no-untyped-def]
        conn.sendall(b"220 hi\r\n")
        conn.recv(100)
        while not srv.stopping:
            conn.sendall(b"250-" + b"x" * 1000 + b"\r\n")

    server = raw_server(flood)
    code, line = plugin(server.port, "smtp")
    assert (code, line) == (
        2,
        f"CERT_VALIDITY CRITICAL - 127.0.0.1:{server.port}: SMTP STARTTLS failed: sent more "
        "than 65536 bytes without a complete reply to EHLO",
    )


def test_silent_server_times_out_in_the_preamble(raw_server: Callable) -> None:
    server = raw_server(lambda srv, conn: srv.wait(30))
    result = run_plugin("-H", "127.0.0.1", "-p", str(server.port), "-P", "imap", "-t", "1")
    assert (result.code, result.first_line) == (
        2,
        f"CERT_VALIDITY CRITICAL - 127.0.0.1:{server.port}: timed out after 1s "
        "in the STARTTLS preamble",
    )
    assert result.seconds < 1 + 0.5


def test_close_during_preamble(scripted: Callable, leaf_factory: Callable) -> None:
    server = scripted([("send", b"220 bye")], [leaf_factory(age=2, lifetime=30)])
    code, line = plugin(server.port, "smtp")
    assert (code, line) == (
        2,
        f"CERT_VALIDITY CRITICAL - 127.0.0.1:{server.port}: SMTP STARTTLS failed: the server "
        "closed the connection before its greeting after '220 bye'",
    )
