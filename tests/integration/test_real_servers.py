"""The installed plugin against real servers from Debian's packages.

PostgreSQL (SSLRequest), OpenLDAP slapd (StartTLS extended operation),
Dovecot (IMAP, POP3, LMTP, ManageSieve), Postfix (SMTP), MariaDB (MySQL
protocol SSL request), vsftpd (FTP AUTH TLS) and Prosody (XMPP STARTTLS),
each started by a fixture on a free loopback port. Whole status lines are
asserted; each protocol also has a negative control, and PostgreSQL, slapd,
MariaDB, vsftpd and Prosody a real refusal (TLS switched off).

Tested with the servers of Debian 12 and Debian 13 (``.ci/other-release``
runs the suite in a Debian 13 root): PostgreSQL 15 and 17, slapd 2.5 and
2.6, Dovecot 2.3 and 2.4, Postfix 3.7 and 3.10, MariaDB 10.11 and 11.8,
vsftpd 3.0.3 and 3.0.5, Prosody 0.12 and 13. Where a server changed, the
test follows the version it finds.
"""

from __future__ import annotations

import re

import pytest

from .conftest import XMPP_DOMAIN, mariadb_greeting_version, postgres_major
from conftest import NOW_ARG, run_plugin

pytestmark = pytest.mark.integration


def check(port: int, *args: str) -> tuple[int, str]:
    result = run_plugin("-H", "127.0.0.1", "-p", str(port), "--now", NOW_ARG, "-t", "10", *args)
    assert result.stderr == ""
    return result.code, result.first_line


def ok_line(port: int) -> str:
    return (
        f"CERT_VALIDITY OK - 127.0.0.1:{port} certificate 'real.internal' has 27.0d left "
        "(expires 2026-12-27 12:00 UTC) | time_left=2332800s;864000:;432000:;;2592000"
    )


def test_postgresql_sslrequest(postgres: int) -> None:
    assert check(postgres, "--starttls", "postgres") == (0, ok_line(postgres))
    if postgres_major() < 17:
        # negative control: before 17 PostgreSQL never answers a bare ClientHello
        code, line = check(postgres)
        assert code == 2 and "certificate" not in line
    else:
        # 17 takes TLS straight away too (direct TLS), and its certificate goes
        # out before it looks for the ALPN it wants: a bare ClientHello gets it.
        assert check(postgres) == (0, ok_line(postgres))
    # negative control on every version: another protocol's preamble is a
    # broken startup packet to PostgreSQL, so the SSLRequest is what worked
    assert check(postgres, "--starttls", "ldap") == (
        2,
        f"CERT_VALIDITY CRITICAL - 127.0.0.1:{postgres}: LDAP STARTTLS failed: the server "
        "closed the connection before its StartTLS response",
    )


def test_postgresql_direct_tls(postgres: int) -> None:
    # Direct TLS (ALPN "postgresql") arrived in PostgreSQL 17; older servers read
    # the ClientHello as a broken startup packet and hang up.
    if postgres_major() >= 17:
        assert check(postgres, "-P", "postgres-direct") == (0, ok_line(postgres))
    else:
        assert check(postgres, "-P", "postgres-direct") == (
            2,
            f"CERT_VALIDITY CRITICAL - 127.0.0.1:{postgres}: the peer closed the connection "
            "during the handshake",
        )


def test_postgresql_with_ssl_off_refuses(postgres_without_ssl: int) -> None:
    assert check(postgres_without_ssl, "-P", "postgres") == (
        2,
        f"CERT_VALIDITY CRITICAL - 127.0.0.1:{postgres_without_ssl}: PostgreSQL server refused "
        "SSLRequest: 'N (the server does not accept SSL connections)'",
    )


def test_slapd_starttls(slapd: int) -> None:
    assert check(slapd, "--starttls", "ldap") == (0, ok_line(slapd))
    code, line = check(slapd)
    assert code == 2 and "certificate" not in line


def test_slapd_without_tls_refuses(slapd_without_tls: int) -> None:
    assert check(slapd_without_tls, "-P", "ldap") == (
        2,
        f"CERT_VALIDITY CRITICAL - 127.0.0.1:{slapd_without_tls}: LDAP server refused StartTLS: "
        "'resultCode 2 (protocolError): unsupported extended operation'",
    )


@pytest.mark.parametrize("proto", ["imap", "pop3", "lmtp", "sieve"])
def test_dovecot(proto: str, dovecot: dict[str, int]) -> None:
    if proto not in dovecot:
        pytest.skip("dovecot-managesieved is not installed")
    port = dovecot[proto]
    assert check(port, "--starttls", proto) == (0, ok_line(port))
    code, line = check(port)
    assert code == 2 and "not a TLS server" in line


def test_dovecot_imap_is_not_pop3(dovecot: dict[str, int]) -> None:
    # the wrong protocol's preamble against a real server: a refusal, quoted
    code, line = check(dovecot["imap"], "-P", "pop3")
    assert code == 2
    assert line.startswith(
        f"CERT_VALIDITY CRITICAL - 127.0.0.1:{dovecot['imap']}: POP3 server refused the "
        "session: '* OK [CAPABILITY IMAP4rev1"
    )


def test_postfix_smtp(postfix: int) -> None:
    assert check(postfix, "--starttls", "smtp") == (0, ok_line(postfix))
    code, line = check(postfix)
    # The ClientHello goes out at once; Postfix greets first, unless the
    # ClientHello reached it before the greeting was sent: then 3.9 and later
    # (Debian 13) refuse the early talker instead. Either way, not TLS.
    sent = "220 mx.check-cert-validity.test ESMTP|554 5.5.0 Error: SMTP protocol synchr..."
    assert code == 2
    assert re.fullmatch(
        re.escape(f"CERT_VALIDITY CRITICAL - 127.0.0.1:{postfix}: not a TLS server (it sent '")
        + "("
        + "|".join(re.escape(option) for option in sent.split("|"))
        + ")'\\)",
        line,
    ), line


def test_mariadb_mysql(mariadb: int) -> None:
    assert check(mariadb, "--starttls", "mysql") == (0, ok_line(mariadb))
    # negative control: the server speaks first, a greeting packet, not TLS
    code, line = check(mariadb)
    assert code == 2 and "not a TLS server" in line


def test_mariadb_with_ssl_off_refuses(mariadb_without_ssl: int) -> None:
    assert check(mariadb_without_ssl, "-P", "mysql") == (
        2,
        f"CERT_VALIDITY CRITICAL - 127.0.0.1:{mariadb_without_ssl}: MySQL server refused SSL: "
        f"'server {mariadb_greeting_version(mariadb_without_ssl)} does not offer CLIENT_SSL'",
    )


def test_vsftpd_ftp(vsftpd: int) -> None:
    assert check(vsftpd, "--starttls", "ftp") == (0, ok_line(vsftpd))
    assert check(vsftpd) == (
        2,
        f"CERT_VALIDITY CRITICAL - 127.0.0.1:{vsftpd}: not a TLS server "
        "(it sent '220 ccv test FTP')",
    )


def test_vsftpd_with_ssl_off_refuses(vsftpd_without_ssl: int) -> None:
    assert check(vsftpd_without_ssl, "-P", "ftp") == (
        2,
        f"CERT_VALIDITY CRITICAL - 127.0.0.1:{vsftpd_without_ssl}: FTP server refused AUTH TLS: "
        "'530 Please login with USER and PASS.'",
    )


def test_prosody_xmpp(prosody: int) -> None:
    # the stream's 'to' is --sni (else -H): it must name the VirtualHost
    assert check(prosody, "-P", "xmpp", "--sni", XMPP_DOMAIN) == (0, ok_line(prosody))
    code, line = check(prosody)
    assert code == 2 and "not a TLS server" in line


def test_prosody_unknown_domain_refuses(prosody: int) -> None:
    # -H 127.0.0.1 alone addresses the stream to 127.0.0.1: no such host here.
    # The quote is the stream error, not the stream's attributes before it
    # (in no fixed order, with a random id).
    assert check(prosody, "-P", "xmpp") == (
        2,
        f"CERT_VALIDITY CRITICAL - 127.0.0.1:{prosody}: XMPP server refused the stream: "
        "'<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
        "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>This server does not serve "
        "127.0.0...'",
    )


def test_prosody_without_tls_refuses(prosody_without_tls: int) -> None:
    # The quote starts with the features, so that the offered mechanisms show
    # whatever the server adds after them: Prosody 13 a <limits> (XEP-0478).
    code, line = check(prosody_without_tls, "-P", "xmpp", "--sni", XMPP_DOMAIN)
    quoted = (
        f"CERT_VALIDITY CRITICAL - 127.0.0.1:{prosody_without_tls}: XMPP server refused "
        "STARTTLS (not among the stream features): '<stream:features><mechanisms "
        "xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>ANONYMOUS</mechanism></mechanisms>"
    )
    assert code == 2
    assert line in (
        quoted + "</stream:features>'",  # Prosody 0.12
        quoted + "<limits xmlns='urn:xmpp:stream-limits:0'><...'",  # Prosody 13
    )
