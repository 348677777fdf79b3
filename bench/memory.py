"""Peak memory (RSS) and wall time of one check, normal and against hostile servers.

Runs the installed console script once per scenario under a small launcher
that reports the child's own ``ru_maxrss`` (see ``tests/conftest.py``), and
prints one line per scenario. Usage: ``.venv/bin/python bench/memory.py``.
"""

from __future__ import annotations

import os
import platform
import socket
import sys
from collections.abc import Callable
from datetime import timedelta

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

import OpenSSL
from cryptography import __version__ as cryptography_version
from test_hostile_servers import (
    LEAF_DER,
    MOST_CERTS,
    endless_hello_requests,
    huge_certificate_message,
    serve_ders,
    silent,
)

from check_cert_validity.certfactory import issue
from check_cert_validity.loopback import TLSServer

from conftest import NOW, NOW_ARG, RawServer, plugin_command, run_measured


def python_baseline() -> int:
    _run, kib = run_measured([sys.executable, "-c", "pass"])
    return kib


def raw_server(behave: Callable[[RawServer, socket.socket], None]) -> RawServer:
    """A RawServer whose behaviour gets the server too (as the test fixture does)."""
    holder: list[RawServer] = []
    server = RawServer(lambda conn: behave(holder[0], conn))
    holder.append(server)
    return server


def main() -> None:
    """Print one line per scenario: peak RSS in MiB, wall seconds, exit code."""
    leaf = issue(not_before=NOW - timedelta(days=1), not_after=NOW + timedelta(days=29))
    scenarios: list[tuple[str, Callable[[RawServer, socket.socket], None] | None]] = [
        ("OK check, real TLS 1.3 server", None),
        ("silent server, -t 2", silent),
        (
            f"chain of {MOST_CERTS} certificates (just under 100 KiB)",
            serve_ders([LEAF_DER] * MOST_CERTS),
        ),
        ("chain of 1,000 certificates (refused)", serve_ders([LEAF_DER] * 1000)),
        ("8 MiB Certificate message (refused)", huge_certificate_message),
        ("endless well-formed stream, -t 2", endless_hello_requests),
    ]
    openssl = OpenSSL.SSL.OpenSSL_version(OpenSSL.SSL.OPENSSL_VERSION).decode()
    print(
        f"Python {platform.python_version()}, {openssl} (as linked by pyOpenSSL), "
        f"pyOpenSSL {OpenSSL.__version__}, cryptography {cryptography_version}, "
        f"{platform.machine()} Linux {platform.release()}"
    )
    print(f"{'scenario':<52} {'peak RSS':>9} {'wall':>6}  exit")
    print(f"{'python -c pass (interpreter alone)':<52} {python_baseline() / 1024:>6.1f} MiB")
    for name, behave in scenarios:
        if behave is None:
            server: TLSServer | RawServer = TLSServer([leaf])
        else:
            server = raw_server(behave)
        try:
            args = ["-H", "127.0.0.1", "-p", str(server.port), "-t", "2", "--now", NOW_ARG]
            run, kib = run_measured([*plugin_command(), *args])
        finally:
            server.close()
        print(f"{name:<52} {kib / 1024:>6.1f} MiB {run.seconds:>5.2f}s  {run.code}")


if __name__ == "__main__":
    main()
