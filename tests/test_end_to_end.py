"""The installed console script against real TLS servers on loopback.

Each test asserts the exit code and the whole status line, perfdata included
(``--now`` pins the clock so the numbers are exact).
"""

from __future__ import annotations

import ssl
import subprocess
import sys
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import hashes

from check_cert_validity.certfactory import Issued

from conftest import NOW_ARG, free_port, has_ipv6_loopback, run_plugin


def check(port: int, *args: str, host: str = "127.0.0.1") -> tuple[int, str]:
    result = run_plugin("-H", host, "-p", str(port), "--now", NOW_ARG, *args)
    assert result.stderr == ""
    return result.code, result.first_line


def test_ok_whole_line(serve: Callable, leaf_factory: Callable) -> None:
    server = serve([leaf_factory(age=5, lifetime=30, common_name="svc.internal")])
    code, line = check(server.port, "--validity", "30d", "--rotation", "10d")
    assert code == 0
    assert line == (
        f"CERT_VALIDITY OK - 127.0.0.1:{server.port} certificate 'svc.internal' has 25.0d left "
        "(expires 2026-12-25 12:00 UTC) | time_left=2160000s;1728000:2592000;864000:;;2592000"
    )


def test_warning_rotation_overdue(serve: Callable, leaf_factory: Callable) -> None:
    server = serve([leaf_factory(age=15.8, lifetime=30, common_name="db1.internal")])
    code, line = check(server.port, "--validity", "30d", "--rotation", "10d")
    assert code == 1
    assert line == (
        f"CERT_VALIDITY WARNING - 127.0.0.1:{server.port} certificate 'db1.internal' has 14.2d "
        "left, rotation overdue by 5.8d (expires 2026-12-14 16:48 UTC) "
        "| time_left=1226880s;1728000:2592000;864000:;;2592000"
    )


def test_critical_below_half_the_window(serve: Callable, leaf_factory: Callable) -> None:
    server = serve([leaf_factory(age=6, lifetime=7, common_name="short.internal")])
    code, line = check(server.port, "--validity", "7d", "--rotation", "2d")
    assert code == 2
    assert line == (
        f"CERT_VALIDITY CRITICAL - 127.0.0.1:{server.port} certificate 'short.internal' has "
        "24.0h left, rotation overdue by 4.0d, critical below 2.5d (expires 2026-12-01 12:00 UTC) "
        "| time_left=86400s;432000:604800;216000:;;604800"
    )


def test_default_thresholds_from_the_lifetime(serve: Callable, leaf_factory: Callable) -> None:
    server = serve([leaf_factory(age=70, lifetime=90, common_name="le.internal")])
    code, line = check(server.port)
    assert code == 1
    assert line.endswith("| time_left=1728000s;2592000:;1296000:;;7776000")
    assert "has 20.0d left, rotation overdue by 10.0d" in line


def test_24_hour_certificate_in_hours(serve: Callable, leaf_factory: Callable) -> None:
    server = serve([leaf_factory(age=17 / 24, lifetime=1, common_name="step.internal")])
    code, line = check(server.port, "--validity", "24h", "--rotation", "16h")
    assert code == 1
    assert "has 7.0h left, rotation overdue by 1.0h (expires 2026-11-30 19:00 UTC)" in line
    assert line.endswith("| time_left=25200s;28800:86400;14400:;;86400")


def test_expired(serve: Callable, leaf_factory: Callable) -> None:
    server = serve([leaf_factory(age=33, lifetime=30, common_name="old.internal")])
    code, line = check(server.port)
    assert code == 2
    assert line == (
        f"CERT_VALIDITY CRITICAL - 127.0.0.1:{server.port} certificate 'old.internal' expired "
        "3.0d ago (2026-11-27 12:00 UTC) | time_left=-259200s;864000:;432000:;;2592000"
    )


def test_not_yet_valid(serve: Callable, leaf_factory: Callable) -> None:
    server = serve([leaf_factory(age=-0.5, lifetime=30, common_name="future.internal")])
    code, line = check(server.port)
    assert code == 2
    assert (
        f"- 127.0.0.1:{server.port} certificate 'future.internal' is not valid for another "
        "12.0h (notBefore 2026-12-01 00:00 UTC) |"
    ) in line


def test_not_from_the_rotation_system(serve: Callable, leaf_factory: Callable) -> None:
    server = serve([leaf_factory(age=10, lifetime=365, common_name="manual.internal")])
    code, line = check(server.port, "--validity", "30d", "--rotation", "10d")
    assert code == 1
    assert "lifetime 365.0d exceeds validity 30.0d: not issued by this rotation" in line


def test_fixed_ranges_with_units(serve: Callable, leaf_factory: Callable) -> None:
    server = serve([leaf_factory(age=20 / 24, lifetime=1, common_name="x.internal")])
    code, line = check(server.port, "-w", "8h:", "-c", "4h:")
    assert code == 1
    assert line.endswith("| time_left=14400s;28800:;14400:;;86400")
    code, line = check(server.port, "-w", "8h:", "-c", "5h:")
    assert code == 2


def test_leaf_not_intermediate_is_reported(
    serve: Callable, ca: Issued, leaf_factory: Callable
) -> None:
    # the intermediate expires first; the leaf decides the state without --chain
    intermediate = leaf_factory(age=360, lifetime=361, ca=True, common_name="Issuing CA 2")
    leaf = leaf_factory(age=1, lifetime=30, issuer=intermediate, common_name="leaf.internal")
    server = serve([leaf, intermediate])
    result = run_plugin("-H", "127.0.0.1", "-p", str(server.port), "--now", NOW_ARG, "-v")
    assert result.code == 0
    assert "certificate 'leaf.internal' has 29.0d left" in result.first_line
    assert "chain[1]: CN=Issuing CA 2,O=check_cert_validity test (notAfter 2026-12-01" in (
        result.stdout
    )


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_client_certificate_required(
    version: ssl.TLSVersion, serve: Callable, leaf_factory: Callable
) -> None:
    server = serve(
        [leaf_factory(age=1, lifetime=30, common_name="mtls.internal")],
        require_client_cert=True,
        max_version=version,
    )
    code, line = check(server.port)
    assert code == 0
    assert f"127.0.0.1:{server.port} certificate 'mtls.internal' has 29.0d left" in line
    assert server.handshake_errors  # the server really refused us


def test_verbose_long_output(serve: Callable, leaf_factory: Callable) -> None:
    leaf = leaf_factory(age=5, lifetime=30, common_name="svc.internal", serial=0x1234)
    server = serve([leaf])
    result = run_plugin(
        "-H", "127.0.0.1", "-p", str(server.port), "--sni", "svc.internal", "--now", NOW_ARG, "-v"
    )
    lines = result.stdout.splitlines()
    assert result.code == 0
    assert lines[1:9] == [
        "subject: CN=svc.internal,O=check_cert_validity test",
        "issuer: CN=Test Root CA,O=check_cert_validity test",
        "subjectAltName: localhost, 127.0.0.1, ::1",
        "serial: 12:34",
        f"SHA-256: {leaf.cert.fingerprint(hashes.SHA256()).hex(':').upper()}",
        "notBefore: 2026-11-25T12:00:00+00:00",
        "notAfter: 2026-12-25T12:00:00+00:00",
        "lifetime: 30.0d, age 5.0d, time left 25.0d",
    ]
    assert lines[9].startswith("expected time left: 10.0d to 30.0d (V=30.0d from the lifetime")
    assert lines[10].startswith(f"endpoint: 127.0.0.1:{server.port} (connected to 127.0.0.1:")
    assert "TLSv1.3" in lines[10]
    assert server.seen_sni == ["svc.internal"]


def test_hostile_certificate_text_stays_on_one_line(
    serve: Callable, leaf_factory: Callable
) -> None:
    server = serve([leaf_factory(age=1, lifetime=30, common_name="evil|x\nCRITICAL\x1b[0m")])
    result = run_plugin("-H", "127.0.0.1", "-p", str(server.port), "--now", NOW_ARG, "-v")
    assert result.code == 0
    assert result.first_line.count("|") == 1
    assert "certificate 'evil\\x7cx\\x0aCRITICAL\\x1b[0m' has 29.0d left" in result.first_line
    assert "\x1b" not in result.stdout


def test_closed_port_is_critical() -> None:
    port = free_port()
    code, line = check(port)
    assert (code, line) == (2, f"CERT_VALIDITY CRITICAL - 127.0.0.1:{port}: connection refused")


def test_unreachable_state_can_be_changed() -> None:
    port = free_port()
    code, line = check(port, "--unreachable-state", "warning")
    assert (code, line) == (1, f"CERT_VALIDITY WARNING - 127.0.0.1:{port}: connection refused")


def test_unresolvable_name_is_critical() -> None:
    code, line = check(1, host="name.invalid")
    assert code == 2
    assert line.startswith("CERT_VALIDITY CRITICAL - name.invalid:1: cannot resolve 'name.invalid'")


@pytest.mark.skipif(not has_ipv6_loopback(), reason="this machine has no IPv6 loopback (::1)")
@pytest.mark.parametrize("host", ["::1", "[::1]"])
def test_ipv6_loopback(host: str, serve: Callable, leaf_factory: Callable) -> None:
    server = serve([leaf_factory(age=1, lifetime=30, common_name="v6.internal")], host="::1")
    code, line = check(server.port, "-6", host=host)
    assert code == 0
    assert line.startswith(f"CERT_VALIDITY OK - [::1]:{server.port} certificate 'v6.internal'")
    code, line = check(server.port, "-4", host=host)
    assert (code, line) == (
        2,
        f"CERT_VALIDITY CRITICAL - [::1]:{server.port}: ::1 is not an IPv4 address",
    )


def test_python_dash_m_is_the_same_plugin(serve: Callable, leaf_factory: Callable) -> None:
    server = serve([leaf_factory(age=5, lifetime=30, common_name="svc.internal")])
    args = ["-H", "127.0.0.1", "-p", str(server.port), "--now", NOW_ARG]
    module = subprocess.run(
        [sys.executable, "-m", "check_cert_validity", *args], capture_output=True, text=True
    )
    script = run_plugin(*args)
    assert module.returncode == script.code == 0
    assert module.stdout == script.stdout
