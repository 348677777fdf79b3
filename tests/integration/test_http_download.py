"""The bounded HTTP(S) download against a real nginx on loopback (127.0.0.1 and ::1).

nginx serves files written here (a CRL-sized one, sparse files of exact
sizes around the 20 MiB limit and far over it) over http and https, and the
server block adds what a distribution point can do wrong: a 404, redirects
(one that works, relative, to https, a loop, two in a row, to ldap), a
trickle of one byte a second (``limit_rate``, headers included), and bodies
without Content-Length (``sub_filter`` makes nginx send them chunked, and
close-delimited with ``chunked_transfer_encoding off``). Every failure is
asserted as the whole one-line message.
"""

from __future__ import annotations

import socket
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from nginx import Nginx

from check_cert_validity.certfactory import issue
from check_cert_validity.httpfetch import MAX_BODY, FetchError, get

pytestmark = pytest.mark.integration

CRL = bytes(range(256)) * 8  # what is served needs no meaning here, only its bytes
SLOW = b"s" * 1000
GIB = 1024**3

LOCATIONS = """
        location = /sni { return 200 "[$ssl_server_name]"; }
        location = /host { return 200 "[$http_host]"; }
        location = /moved.crl { return 301 /ca.crl; }
        location = /relative.crl { absolute_redirect off; return 302 /ca.crl; }
        location = /to-https.crl { return 307 https://127.0.0.1:{https}/ca.crl; }
        location = /loop.crl { return 302 /loop.crl; }
        location = /twice.crl { return 302 /moved.crl; }
        location = /to-missing.crl { return 308 /missing.crl; }
        location = /to-ldap.crl { return 302 ldap://ca.internal/cn=CA; }
        location /slow/ { alias {www}/; limit_rate 1; }
        location /slow-body/ { alias {www}/; limit_rate_after 600; limit_rate 1; }
        location /chunked/ {
            alias {www}/; sub_filter_types *; sub_filter 'no such text' '';
        }
        location /close/ {
            alias {www}/; sub_filter_types *; sub_filter 'no such text' '';
            chunked_transfer_encoding off;
        }
"""


@pytest.fixture(scope="module")
def nginx() -> Iterator[Nginx]:
    # An expired certificate for the web server: nothing about it is judged,
    # so nothing about it may stop the download.
    expired = issue(
        not_before=datetime(2020, 1, 1, tzinfo=UTC), not_after=datetime(2020, 2, 1, tzinfo=UTC)
    )
    files: dict[str, bytes | int] = {
        "ca.crl": CRL,
        "slow.bin": SLOW,
        "exact.bin": MAX_BODY,
        "over.bin": MAX_BODY + 1,
        "huge.bin": GIB,
    }
    server = Nginx(expired, files, LOCATIONS)
    yield server
    server.close()


def raw_head(port: int, path: str) -> bytes:
    """The response head nginx sends, read by hand (proves which framing a test exercises)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(4096)
    return data.split(b"\r\n\r\n")[0]


def failure(url: str, timeout: float = 5, **kwargs: object) -> tuple[str, float]:
    start = time.monotonic()
    with pytest.raises(FetchError) as caught:
        get(url, timeout, **kwargs)  # type: ignore[arg-type]
    return str(caught.value), time.monotonic() - start


@pytest.mark.parametrize("https", [False, True], ids=["http", "https"])
@pytest.mark.parametrize("host", ["127.0.0.1", "[::1]", "localhost"])
def test_a_file_downloads_over_ipv4_and_ipv6_http_and_https(
    nginx: Nginx, host: str, https: bool
) -> None:
    if host == "[::1]" and not nginx.ipv6:
        pytest.skip("this machine has no IPv6 loopback")
    url = nginx.url("ca.crl", https=https, host=host)
    got = get(url, 5, family=6 if host == "[::1]" else 4)
    port = nginx.https if https else nginx.http
    assert got.body == CRL
    assert got.url == url and got.redirected_from is None
    assert got.peer == (f"[::1]:{port}" if host == "[::1]" else f"127.0.0.1:{port}")


def test_the_expired_web_server_certificate_would_stop_a_verifying_client(nginx: Nginx) -> None:
    # negative control for the https case above: a client that verifies refuses this server
    import ssl
    import urllib.request

    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        urllib.request.urlopen(nginx.url("ca.crl", https=True), timeout=5)
    assert ssl.create_default_context().verify_mode == ssl.CERT_REQUIRED


def test_sni_is_sent_for_names_only(nginx: Nginx) -> None:
    assert get(nginx.url("sni", https=True, host="localhost"), 5, family=4).body == b"[localhost]"
    assert get(nginx.url("sni", https=True), 5).body == b"[]"


def test_the_host_field_names_the_port_and_brackets_ipv6(nginx: Nginx) -> None:
    assert get(nginx.url("host"), 5).body == f"[127.0.0.1:{nginx.http}]".encode()
    if nginx.ipv6:
        assert get(nginx.url("host", host="[::1]"), 5).body == f"[[::1]:{nginx.http}]".encode()


def test_an_error_status_fails_with_the_status(nginx: Nginx) -> None:
    assert failure(nginx.url("missing.crl"))[0] == "HTTP status 404 Not Found"
    # plain HTTP to the https port: nginx says so with a 400
    plain_to_tls = f"http://127.0.0.1:{nginx.https}/ca.crl"
    assert failure(plain_to_tls)[0] == "HTTP status 400 Bad Request"


def test_tls_to_a_plain_http_port_fails_in_the_handshake(nginx: Nginx) -> None:
    message, _ = failure(f"https://127.0.0.1:{nginx.http}/ca.crl")
    assert message.startswith("TLS handshake failed: "), message


@pytest.mark.parametrize(
    ("path", "https"),
    [("moved.crl", False), ("relative.crl", False), ("to-https.crl", True)],
)
def test_one_redirect_is_followed(nginx: Nginx, path: str, https: bool) -> None:
    if path == "relative.crl":  # the case is what it says: a Location without scheme and host
        assert b"\r\nLocation: /ca.crl" in raw_head(nginx.http, "/relative.crl")
    got = get(nginx.url(path), 5)
    assert got.body == CRL
    assert (got.url, got.redirected_from) == (nginx.url("ca.crl", https=https), nginx.url(path))


def test_a_second_redirect_fails(nginx: Nginx) -> None:
    loop, twice, moved = nginx.url("loop.crl"), nginx.url("twice.crl"), nginx.url("moved.crl")
    assert failure(loop)[0] == (
        f"redirected again, from {loop} to {loop} (only 1 redirect is followed)"
    )
    assert failure(twice)[0] == (
        f"redirected again, from {moved} to {nginx.url('ca.crl')} (only 1 redirect is followed)"
    )


def test_a_redirect_elsewhere_says_where_it_failed(nginx: Nginx) -> None:
    assert failure(nginx.url("to-missing.crl"))[0] == (
        f"HTTP status 404 Not Found (after the redirect to {nginx.url('missing.crl')})"
    )
    assert failure(nginx.url("to-ldap.crl"))[0] == (
        "HTTP status 302 redirect: not an http or https URL: 'ldap://ca.internal/cn=CA'"
    )


@pytest.mark.parametrize("framing", ["chunked", "close"])
def test_bodies_without_content_length(nginx: Nginx, framing: str) -> None:
    head = raw_head(nginx.http, f"/{framing}/ca.crl")
    assert b"Content-Length" not in head
    assert (b"Transfer-Encoding: chunked" in head) == (framing == "chunked")
    assert get(nginx.url(f"{framing}/ca.crl"), 5).body == CRL


def test_a_body_of_exactly_the_limit_is_read(nginx: Nginx) -> None:
    assert len(get(nginx.url("exact.bin"), 10).body) == MAX_BODY


@pytest.mark.parametrize("path", ["over.bin", "huge.bin"])
def test_a_declared_body_over_the_limit_fails_before_it_is_read(nginx: Nginx, path: str) -> None:
    size = MAX_BODY + 1 if path == "over.bin" else GIB
    message, seconds = failure(nginx.url(path))
    assert message == f"body of {size} bytes is over the limit of 20 MiB"
    assert seconds < 1


@pytest.mark.parametrize("framing", ["chunked", "close"])
def test_a_growing_body_fails_at_the_limit_with_bounded_memory(nginx: Nginx, framing: str) -> None:
    tracemalloc.start()
    try:
        message, seconds = failure(nginx.url(f"{framing}/huge.bin"), 30)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert message == "body is over the limit of 20 MiB"
    # the whole GiB would take far longer and far more; the body held is the limit, at most
    assert seconds < 10
    assert MAX_BODY <= peak < MAX_BODY + 8 * 1024 * 1024, peak


def test_a_trickle_fails_at_the_deadline_in_the_headers(nginx: Nginx) -> None:
    # nginx rate-limits the head too: one byte a second, so no single read waits
    # long enough for a per-read timeout; only the one deadline ends this
    message, seconds = failure(nginx.url("slow/slow.bin"), 2)
    assert message == "timed out after 2s waiting for the response"
    assert 2 <= seconds < 3


def test_a_trickle_fails_at_the_deadline_in_the_body(nginx: Nginx) -> None:
    message, seconds = failure(nginx.url("slow-body/slow.bin"), 2)
    assert message == "timed out after 2s reading the body"
    assert 2 <= seconds < 3


def test_the_deadline_counts_from_when_the_plugin_started(nginx: Nginx) -> None:
    started = time.monotonic() - 1.5  # imports and an endpoint check used 1.5s already
    message, seconds = failure(nginx.url("slow/slow.bin"), 2, started=started)
    assert message == "timed out after 2s waiting for the response"
    assert seconds < 1.2
