"""Against the real ``openssl s_server`` binary, not a Python server."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from check_cert_validity.loopback import write_pem

from conftest import NOW_ARG, free_port, run_plugin, wait_for_port

pytestmark = pytest.mark.skipif(not shutil.which("openssl"), reason="no openssl binary")


@pytest.fixture
def s_server(tmp_path: Path) -> Iterator[Callable[..., int]]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(chain: list, *extra: str) -> int:
        cert, key = write_pem(str(tmp_path), f"s{len(procs)}", chain)
        port = free_port()
        proc = subprocess.Popen(
            [
                "openssl",
                "s_server",
                "-accept",
                f"127.0.0.1:{port}",
                "-cert",
                cert,
                "-key",
                key,
                "-quiet",
                *extra,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(proc)
        wait_for_port(port)
        return port

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def test_openssl_s_server_tls13(s_server: Callable, leaf_factory: Callable) -> None:
    port = s_server([leaf_factory(age=25.5, lifetime=30, common_name="ossl.internal")])
    result = run_plugin("-H", "127.0.0.1", "-p", str(port), "--now", NOW_ARG, "-v")
    assert result.code == 2
    assert result.first_line == (
        f"CERT_VALIDITY CRITICAL - 127.0.0.1:{port} certificate 'ossl.internal' has 4.5d left, "
        "rotation overdue by 5.5d, critical below 5.0d (expires 2026-12-05 00:00 UTC) "
        "| time_left=388800s;864000:;432000:;;2592000"
    )
    assert "TLSv1.3" in result.stdout


def test_openssl_s_server_tls12_client_auth(s_server: Callable, leaf_factory: Callable) -> None:
    port = s_server(
        [leaf_factory(age=1, lifetime=30, common_name="ossl-mtls.internal")],
        "-tls1_2",
        "-Verify",
        "1",
    )
    result = run_plugin("-H", "127.0.0.1", "-p", str(port), "--now", NOW_ARG, "-v")
    assert result.code == 0
    assert "certificate 'ossl-mtls.internal' has 29.0d left" in result.first_line
    assert "TLSv1.2" in result.stdout
