"""CRLs over HTTP through the installed plugin: ``--crl URL`` and ``--crl-from-cert``.

A real ``openssl ca -gencrl`` publishes the CRLs with exact thisUpdate and
nextUpdate (``crlca.OpenSslCa``); a real nginx on loopback serves them over
http and https (IPv4 and IPv6), with what a distribution point can do
wrong: a 404, a redirect loop, a trickle, a body far over 20 MiB, a page
that is not a CRL. The endpoints are TLS servers on loopback serving leaves
whose CRL Distribution Points name those URLs. Every case asserts the exit
code and the whole status line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from crlca import OpenSslCa
from nginx import Nginx

from check_cert_validity.certfactory import issue
from check_cert_validity.loopback import TLSServer, write_pem

from conftest import (
    DAY,
    NOW,
    NOW_ARG,
    Run,
    free_port,
    plugin_command,
    run_measured,
    run_plugin,
)

pytestmark = pytest.mark.integration

HOUR = timedelta(hours=1)
GIB = 1024**3
LOCATIONS = """
        location = /moved.crl { return 301 /fresh.crl; }
        location = /loop.crl { return 302 /loop.crl; }
        location /slow/ { alias {www}/; limit_rate 1; }
        location /chunked/ {
            alias {www}/; sub_filter_types *; sub_filter 'no such text' '';
        }
"""
# The CRLs' numbers: openssl ca counts up from 42 with every CRL it makes.
FRESH, STALE, FRESH_PEM = "(number 42)", "(number 43)", "(number 44)"
FRESH_TEXT = "has 6.5d left (nextUpdate 2026-12-07 00:00 UTC)"
STALE_TEXT = "expired 3.0h ago (nextUpdate 2026-11-30 09:00 UTC)"
FRESH_PERF = "crl_time_left=561600s;201600:;100800:;;604800"  # by its own lifetime
LEAF_TEXT = "certificate 'svc.internal' has 25.0d left (expires 2026-12-25 12:00 UTC)"
LEAF_PERF = "time_left=2160000s;864000:;432000:;;2592000"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> OpenSslCa:
    return OpenSslCa(tmp_path_factory.mktemp("crlca"))


@pytest.fixture(scope="module")
def nginx(ca: OpenSslCa) -> Iterator[Nginx]:
    files: dict[str, bytes | int] = {
        "fresh.crl": ca.gencrl(NOW - 12 * HOUR, NOW + 6.5 * DAY, der=True),
        "stale.crl": ca.gencrl(NOW - 8 * DAY, NOW - 3 * HOUR),
        "fresh.pem": ca.gencrl(NOW - 12 * HOUR, NOW + 6.5 * DAY),
        "index.html": b"<html><body>It works!</body></html>\n",
        "huge.crl": GIB,
    }
    web = issue(not_before=NOW - 30 * DAY, not_after=NOW + 60 * DAY)
    server = Nginx(web, files, LOCATIONS)
    yield server
    server.close()


def check(*args: str, timeout: float = 30) -> tuple[int, str]:
    run = run_plugin(*args, "--now", NOW_ARG, timeout=timeout)
    assert run.stderr == "", "nothing on stderr: no traceback, no library warning"
    return run.code, run.stdout


def line(state: str, text: str, perf: str = "") -> str:
    return f"CERT_VALIDITY {state} - {text}{f' | {perf}' if perf else ''}\n"


# --- --crl URL alone: the CRL is what is checked, by --validity/--rotation


def test_a_crl_by_url_is_judged_by_the_model(nginx: Nginx) -> None:
    url = nginx.url("fresh.crl")
    assert check("--crl", url, "--validity", "7d", "--rotation", "1d") == (
        0,
        line(
            "OK",
            f"{url} CRL of 'Test CRL CA' {FRESH} {FRESH_TEXT}",
            "crl_time_left=561600s;518400:604800;259200:;;604800",
        ),
    )


@pytest.mark.parametrize(
    ("path", "https", "host"),
    [
        ("fresh.pem", False, "127.0.0.1"),
        ("fresh.crl", True, "127.0.0.1"),
        ("fresh.crl", False, "[::1]"),
        ("fresh.crl", True, "[::1]"),
        ("chunked/fresh.crl", False, "127.0.0.1"),
    ],
)
def test_pem_https_ipv6_and_chunked(nginx: Nginx, path: str, https: bool, host: str) -> None:
    if host == "[::1]" and not nginx.ipv6:
        pytest.skip("this machine has no IPv6 loopback")
    url = nginx.url(path, https=https, host=host)
    number = FRESH_PEM if path == "fresh.pem" else FRESH
    assert check("--crl", url) == (
        0,
        line("OK", f"{url} CRL of 'Test CRL CA' {number} {FRESH_TEXT}", FRESH_PERF),
    )


def test_one_redirect_is_followed_and_the_url_asked_for_names_the_crl(nginx: Nginx) -> None:
    url = nginx.url("moved.crl")
    assert check("--crl", url) == (
        0,
        line("OK", f"{url} CRL of 'Test CRL CA' {FRESH} {FRESH_TEXT}", FRESH_PERF),
    )


def test_an_expired_crl_is_critical(nginx: Nginx) -> None:
    url = nginx.url("stale.crl")
    code, out = check("--crl", url)
    assert code == 2
    assert out.startswith(
        f"CERT_VALIDITY CRITICAL - {url} CRL of 'Test CRL CA' {STALE} {STALE_TEXT} | "
    )


def unreachable_cases(nginx: Nginx) -> list[tuple[str, str]]:
    loop = nginx.url("loop.crl")
    return [
        (nginx.url("missing.crl"), "HTTP status 404 Not Found"),
        (loop, f"redirected again, from {loop} to {loop} (only 1 redirect is followed)"),
        (nginx.url("index.html"), "not a CRL (36 bytes of text/html)"),
        (nginx.url("huge.crl"), f"body of {GIB} bytes is over the limit of 20 MiB"),
        (nginx.url("chunked/huge.crl"), "body is over the limit of 20 MiB"),
        (f"http://127.0.0.1:{free_port()}/ca.crl", "connection refused"),
    ]


def test_every_failure_class_is_critical_by_default_and_follows_unreachable_state(
    nginx: Nginx,
) -> None:
    for url, why in unreachable_cases(nginx):
        assert check("--crl", url) == (2, line("CRITICAL", f"{url}: {why}")), url
    url, why = unreachable_cases(nginx)[0]
    assert check("--crl", url, "--unreachable-state", "warning") == (
        1,
        line("WARNING", f"{url}: {why}"),
    )


def test_a_trickle_ends_at_the_deadline(nginx: Nginx) -> None:
    url = nginx.url("slow/fresh.crl")  # one byte a second, headers included
    run = run_plugin("--crl", url, "-t", "2", "--now", NOW_ARG)
    assert (run.code, run.stdout) == (
        2,
        line("CRITICAL", f"{url}: timed out after 2s waiting for the response"),
    )
    assert run.seconds < 3  # -t counts from the plugin's start, imports included


def test_a_body_growing_past_the_limit_fails_with_bounded_memory(nginx: Nginx) -> None:
    def measured(path: str) -> tuple[Run, int]:
        return run_measured([*plugin_command(), "--crl", nginx.url(path), "--now", NOW_ARG])

    small, small_kib = measured("fresh.crl")
    huge, huge_kib = measured("chunked/huge.crl")  # a GiB, chunked: no length to refuse
    assert (small.code, huge.code) == (0, 2)
    assert huge.stdout.endswith(": body is over the limit of 20 MiB\n")
    # the body held is at most the limit, never the GiB sent
    assert huge_kib - small_kib < 32 * 1024, (small_kib, huge_kib)
    assert huge.seconds < 5


def test_the_openmetrics_face_names_the_crl_by_its_url(nginx: Nginx) -> None:
    url = nginx.url("fresh.crl")
    code, out = check("--crl", url, "--output", "openmetrics")
    assert code == 0
    assert f'cert_validity_probe_success{{host="{url}",port="0",sni=""}} 1\n' in out
    assert (
        f'cert_validity_time_left_seconds{{host="{url}",port="0",sni="",kind="crl",'
        'position="0",cn="Test CRL CA",issuer="Test CRL CA",serial="42"} 561600\n'
    ) in out


# --- --crl-from-cert: the CRL the served leaf names, judged beside it


@pytest.fixture
def endpoint(ca: OpenSslCa, serve: Callable[..., TLSServer]) -> Callable[..., int]:
    """A TLS server on loopback whose leaf names these distribution points; its port."""

    def start(*points: list[str]) -> int:
        leaf = issue(
            common_name="svc.internal",
            not_before=NOW - 5 * DAY,
            not_after=NOW + 25 * DAY,
            issuer=ca.ca,
            crl_points=points,
        )
        return serve([leaf]).port

    return start


def test_the_leafs_crl_is_judged_beside_it_both_in_the_line_and_perfdata(
    nginx: Nginx, endpoint: Callable[..., int]
) -> None:
    crl = nginx.url("fresh.crl")
    # the ldap:// point comes first, and is skipped: the first http(s) URI is the one
    port = endpoint(["ldap://ca.internal/cn=Test%20CRL%20CA?certificateRevocationList"], [crl])
    assert check("-H", "127.0.0.1", "-p", str(port), "--crl-from-cert") == (
        0,
        line(
            "OK",
            f"127.0.0.1:{port} {LEAF_TEXT}; {crl} CRL of 'Test CRL CA' {FRESH} {FRESH_TEXT}",
            f"{FRESH_PERF} {LEAF_PERF}",
        ),
    )
    # negative control: without the option the leaf alone is judged
    assert check("-H", "127.0.0.1", "-p", str(port)) == (
        0,
        line("OK", f"127.0.0.1:{port} {LEAF_TEXT}", LEAF_PERF),
    )


def test_the_worse_state_wins(nginx: Nginx, endpoint: Callable[..., int]) -> None:
    crl = nginx.url("stale.crl")
    port = endpoint([crl])
    code, out = check("-H", "127.0.0.1", "-p", str(port), "--crl-from-cert")
    assert (code, out) == (
        2,
        line(
            "CRITICAL",
            f"{crl} CRL of 'Test CRL CA' {STALE} {STALE_TEXT}",
            f"crl_time_left=-10800s;226800:;113400:;;680400 {LEAF_PERF}",
        ),
    )


def test_a_crl_that_cannot_be_fetched_is_critical_beside_the_certificate(
    nginx: Nginx, endpoint: Callable[..., int]
) -> None:
    crl = nginx.url("missing.crl")
    port = endpoint([crl])
    assert check("-H", "127.0.0.1", "-p", str(port), "--crl-from-cert") == (
        2,
        line("CRITICAL", f"{crl}: HTTP status 404 Not Found", LEAF_PERF),
    )
    assert check(
        "-H", "127.0.0.1", "-p", str(port), "--crl-from-cert", "--unreachable-state", "ok"
    ) == (
        0,
        line("OK", f"127.0.0.1:{port} {LEAF_TEXT}; {crl}: HTTP status 404 Not Found", LEAF_PERF),
    )


@pytest.mark.parametrize(
    ("points", "note"),
    [
        ((), "the certificate names no CRL distribution point"),
        (
            (["ldap://ca.internal/cn=CA"],),
            "the certificate names no http(s) CRL distribution point (only ldap://ca.internal/cn=CA)",
        ),
    ],
)
def test_a_leaf_naming_no_http_crl_says_so_and_keeps_its_state(
    endpoint: Callable[..., int], points: tuple[list[str], ...], note: str
) -> None:
    port = endpoint(*points)
    assert check("-H", "127.0.0.1", "-p", str(port), "--crl-from-cert") == (
        0,
        line("OK", f"127.0.0.1:{port} {LEAF_TEXT}; {note}", LEAF_PERF),
    )


def test_the_crl_gets_what_is_left_of_the_one_deadline(
    nginx: Nginx, endpoint: Callable[..., int]
) -> None:
    crl = nginx.url("slow/fresh.crl")
    port = endpoint([crl])
    run = run_plugin("-H", "127.0.0.1", "-p", str(port), "--crl-from-cert", "-t", "2")
    assert run.code == 2
    assert run.first_line.startswith(
        f"CERT_VALIDITY CRITICAL - {crl}: timed out after 2s waiting for the response | "
    )
    assert run.seconds < 3


def test_crl_from_cert_with_a_file(nginx: Nginx, ca: OpenSslCa, tmp_path: Path) -> None:
    crl = nginx.url("fresh.crl", https=True)
    leaf = issue(
        common_name="svc.internal",
        not_before=NOW - 5 * DAY,
        not_after=NOW + 25 * DAY,
        issuer=ca.ca,
        crl_points=[[crl]],
    )
    path, _key = write_pem(str(tmp_path), "svc", [leaf])
    assert check("--file", path, "--crl-from-cert") == (
        0,
        line(
            "OK",
            f"{path} {LEAF_TEXT}; {crl} CRL of 'Test CRL CA' {FRESH} {FRESH_TEXT}",
            f"{FRESH_PERF} {LEAF_PERF}",
        ),
    )


def test_crl_url_beside_an_endpoint_by_the_crl_policy(
    nginx: Nginx, endpoint: Callable[..., int]
) -> None:
    crl = nginx.url("fresh.crl")
    port = endpoint()
    code, out = check(
        "-H",
        "127.0.0.1",
        "-p",
        str(port),
        "--crl",
        crl,
        "--crl-validity",
        "7d",
        "--crl-rotation",
        "6h",
    )
    assert (code, out) == (
        1,
        line(
            "WARNING",
            f"{crl} CRL of 'Test CRL CA' {FRESH} has 6.5d left, rotation overdue by 6.0h "
            "(nextUpdate 2026-12-07 00:00 UTC)",
            f"crl_time_left=561600s;583200:604800;291600:;;604800 {LEAF_PERF}",
        ),
    )


def test_a_hostile_distribution_point_stays_on_one_line(
    nginx: Nginx, endpoint: Callable[..., int]
) -> None:
    crl = nginx.url("x|CRITICAL - y.crl")
    port = endpoint([crl])
    shown = crl.replace("|", "\\x7c")
    assert check("-H", "127.0.0.1", "-p", str(port), "--crl-from-cert") == (
        2,
        line("CRITICAL", f"{shown}: HTTP status 404 Not Found", LEAF_PERF),
    )


def test_one_url_given_twice_is_downloaded_and_judged_once(
    nginx: Nginx, endpoint: Callable[..., int]
) -> None:
    crl = nginx.url("fresh.crl")
    port = endpoint([crl])
    code, out = check("-H", "127.0.0.1", "-p", str(port), "--crl-from-cert", "--crl", crl)
    assert (code, out.count(" CRL of "), "crl_time_left1" in out) == (0, 1, False)


def test_crl_url_beside_a_file_of_crls(nginx: Nginx, ca: OpenSslCa, tmp_path: Path) -> None:
    local = tmp_path / "local.crl"
    local.write_bytes(ca.gencrl(NOW - DAY, NOW + 6 * DAY))
    code, out = check("--file", str(local), "--crl", nginx.url("stale.crl"))
    assert code == 2, "the downloaded CRL is judged with the file's, by --validity/--rotation"
    assert out.startswith(f"CERT_VALIDITY CRITICAL - {nginx.url('stale.crl')} CRL of ")
    assert "crl_time_left=" in out and "crl_time_left1=" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--crl", "ldap://ca.internal/cn=CA"],
            "argument --crl: not an http or https URL: 'ldap://ca.internal/cn=CA'",
        ),
        (["--crl", "http://"], "argument --crl: no host in the URL 'http://'"),
        (
            ["--crl-from-cert"],
            "--crl-from-cert needs -H/--host or --file (the certificate naming it)",
        ),
        (
            ["--crl", "http://127.0.0.1/ca.crl", "-p", "80"],
            "-p/--port only apply to an endpoint (-H), not to a CRL by URL (--crl without -H)",
        ),
        (
            ["--crl", "http://127.0.0.1/ca.crl", "--starttls", "smtp"],
            "--starttls only apply to an endpoint (-H), not to a CRL by URL (--crl without -H)",
        ),
    ],
)
def test_usage_errors_are_one_line_and_unknown(args: list[str], message: str) -> None:
    code, out = check(*args)
    assert (code, out.splitlines()[0]) == (3, f"CERT_VALIDITY UNKNOWN - usage error: {message}")
