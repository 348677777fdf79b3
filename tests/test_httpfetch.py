"""The bounded HTTP(S) download against servers that misbehave on purpose (loopback only).

What nginx will not do is done by a plain TCP server thread here: accept and
never answer (over http and https: the deadline holds in TLS too), reset the
connection, hang up in the middle of a body, speak another protocol. A
refused port is a port nothing listens on. The real web server cases are in
tests/integration/test_http_download.py.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable

import pytest

from check_cert_validity.httpfetch import FetchError, get

from conftest import RawServer, free_port, has_ipv6_loopback
from hostile import reset


def failure(url: str, timeout: float = 5) -> tuple[str, float]:
    start = time.monotonic()
    with pytest.raises(FetchError) as caught:
        get(url, timeout)
    return str(caught.value), time.monotonic() - start


def silent(server: RawServer, conn: socket.socket) -> None:
    server.wait(30)


def read_request(conn: socket.socket) -> bytes:
    conn.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(4096)
    return data


def answer(response: bytes, *, rst: bool = False) -> Callable[[RawServer, socket.socket], None]:
    def behave(server: RawServer, conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(response)
        if rst:
            reset(conn)

    return behave


@pytest.mark.parametrize(
    ("scheme", "stage"),
    [("http", "waiting for the response"), ("https", "during the TLS handshake")],
)
def test_a_server_that_never_answers_fails_at_the_deadline(
    raw_server: Callable[..., RawServer], scheme: str, stage: str
) -> None:
    server = raw_server(silent)
    message, seconds = failure(f"{scheme}://127.0.0.1:{server.port}/ca.crl", 1)
    assert message == f"timed out after 1s {stage}"
    assert 1 <= seconds < 1.5


def test_a_fractional_deadline_holds(raw_server: Callable[..., RawServer]) -> None:
    server = raw_server(silent)
    message, seconds = failure(f"http://127.0.0.1:{server.port}/", 0.3)
    assert (message, seconds < 0.6) == ("timed out after 0.3s waiting for the response", True)


def test_a_refused_port() -> None:
    assert failure(f"http://127.0.0.1:{free_port()}/ca.crl")[0] == "connection refused"
    if has_ipv6_loopback():
        assert failure(f"http://[::1]:{free_port('::1')}/ca.crl")[0] == "connection refused"


def test_a_reset_before_the_response(raw_server: Callable[..., RawServer]) -> None:
    server = raw_server(answer(b"", rst=True))
    message, _ = failure(f"http://127.0.0.1:{server.port}/ca.crl")
    assert message == "connection reset by peer waiting for the response"


def test_a_reset_in_the_body(raw_server: Callable[..., RawServer]) -> None:
    def behave(server: RawServer, conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10)
        time.sleep(0.2)  # the head is read and the body started before the RST
        reset(conn)

    server = raw_server(behave)
    message, _ = failure(f"http://127.0.0.1:{server.port}/ca.crl")
    assert message == "connection reset by peer reading the body"


def test_a_hang_up_in_the_middle_of_the_body(raw_server: Callable[..., RawServer]) -> None:
    server = raw_server(answer(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 400))
    message, _ = failure(f"http://127.0.0.1:{server.port}/ca.crl")
    assert message == "the server closed the connection after 400 of 1000 bytes of the body"


def test_another_protocol_is_not_an_http_response(raw_server: Callable[..., RawServer]) -> None:
    def ssh(server: RawServer, conn: socket.socket) -> None:
        conn.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
        server.wait(30)  # an SSH server waits for the client's banner

    server = raw_server(ssh)
    message, seconds = failure(f"http://127.0.0.1:{server.port}/ca.crl")
    assert message == "not an HTTP response: 'SSH-2.0-OpenSSH_9.2p1 Debian-2'"
    assert seconds < 1  # at its first line, not at the deadline


def test_a_redirect_without_location(raw_server: Callable[..., RawServer]) -> None:
    server = raw_server(answer(b"HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n"))
    message, _ = failure(f"http://127.0.0.1:{server.port}/ca.crl")
    assert message == "HTTP status 302 redirect without a Location"


def test_the_request_is_what_a_distribution_point_expects(
    raw_server: Callable[..., RawServer],
) -> None:
    seen: list[bytes] = []

    def record(server: RawServer, conn: socket.socket) -> None:
        seen.append(read_request(conn))
        conn.sendall(b"HTTP/1.0 200 OK\r\n\r\nbody")

    server = raw_server(record)
    assert get(f"http://127.0.0.1:{server.port}/a%20b/ca.crl?x=1", 5).body == b"body"
    lines = seen[0].decode().split("\r\n")
    assert lines[:2] == ["GET /a%20b/ca.crl?x=1 HTTP/1.1", f"Host: 127.0.0.1:{server.port}"]
    assert "Connection: close" in lines and lines[-2:] == ["", ""]


def test_a_plain_http_download_loads_no_tls_library() -> None:
    # a --crl check needs neither pyOpenSSL (the endpoint's handshake) nor, over
    # http, the stdlib ssl: start-up time is most of a check's cost
    code = (
        "import sys, check_cert_validity.httpfetch\n"
        "print(sorted({'OpenSSL', 'ssl'} & set(sys.modules)))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout.strip()) == (0, "[]"), proc.stderr


CRL_MODULES = ("check_cert_validity.httpfetch", "check_cert_validity.crldownload", "ssl")
LOADED = f"""
import contextlib, io, sys
from check_cert_validity.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    main(sys.argv[1:])
print(" ".join(sorted(m for m in {CRL_MODULES!r} if m in sys.modules)))
"""


def crl_modules_loaded(*args: str) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-c", LOADED, *args], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return set(proc.stdout.split())


def test_a_plain_endpoint_check_loads_no_crl_download_code() -> None:
    assert crl_modules_loaded("-H", "127.0.0.1", "-p", str(free_port()), "-t", "1") == set()
    # negative control: asking for the leaf's CRL loads the download code (a closed
    # port has no leaf, so nothing is downloaded: the modules load with the option)
    closed = f"http://127.0.0.1:{free_port()}/ca.crl"
    assert crl_modules_loaded("--crl", closed, "-t", "1") == {
        "check_cert_validity.httpfetch",
        "check_cert_validity.crldownload",
    }
