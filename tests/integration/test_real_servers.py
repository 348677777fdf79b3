"""The installed plugin against real servers from Debian's packages.

PostgreSQL (SSLRequest), OpenLDAP slapd (StartTLS extended operation),
Dovecot (IMAP, POP3, LMTP, ManageSieve) and Postfix (SMTP), each started by a
fixture on a free loopback port. Whole status lines are asserted; each
protocol also has a negative control, and PostgreSQL and slapd a real
refusal (TLS switched off).
"""

from __future__ import annotations

import pytest

from .conftest import postgres_major
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
    # negative control: PostgreSQL never answers a bare ClientHello with a certificate
    code, line = check(postgres)
    assert code == 2 and "certificate" not in line


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
    assert (code, line) == (
        2,
        f"CERT_VALIDITY CRITICAL - 127.0.0.1:{postfix}: not a TLS server "
        "(it sent '220 mx.check-cert-validity.test ESMTP')",
    )
