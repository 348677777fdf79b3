"""Old and unusual servers: TLS 1.0 with RSA-1024/SHA-1, EC and Ed25519 leaves, odd dates.

The TLS 1.0 server is the real ``openssl s_server`` at ``@SECLEVEL=0``; a
default modern client must fail against it (the negative control), ours must
read it. Dates at and beyond the UTCTime range (RFC 5280: GeneralizedTime
from 2050) and before 2000 come through exactly.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.x509.oid import SignatureAlgorithmOID

from check_cert_validity.certfactory import Issued, issue
from check_cert_validity.certinfo import not_before
from check_cert_validity.loopback import write_pem

from conftest import NOW_ARG, free_port, plugin_command, run_plugin, wait_for_port


@pytest.fixture
def tls10_server(tmp_path: Path, leaf_factory: Callable) -> Iterator[int]:
    if not shutil.which("openssl"):
        pytest.skip("no openssl binary")
    leaf = leaf_factory(
        age=3, lifetime=30, key="rsa1024", sha1=True, issuer=None, common_name="old.internal"
    )
    assert leaf.cert.signature_algorithm_oid == SignatureAlgorithmOID.RSA_WITH_SHA1
    assert leaf.cert.public_key().key_size == 1024
    cert, key = write_pem(str(tmp_path), "old", [leaf])
    port = free_port()
    proc = subprocess.Popen(
        [
            *("openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", cert, "-key", key),
            *("-tls1", "-cipher", "ALL:@SECLEVEL=0", "-quiet", "-naccept", "10"),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port)
    yield port
    proc.kill()
    proc.wait()


def test_tls10_rsa1024_sha1_server_is_read(tls10_server: int) -> None:
    # negative control: a modern default client cannot talk to this server at all
    client = ssl.create_default_context()
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", tls10_server), 5) as raw:
        with pytest.raises(ssl.SSLError):
            client.wrap_socket(raw)
    result = run_plugin("-H", "127.0.0.1", "-p", str(tls10_server), "--now", NOW_ARG, "-v")
    assert (result.code, result.first_line) == (
        0,
        f"CERT_VALIDITY OK - 127.0.0.1:{tls10_server} certificate 'old.internal' has 27.0d left "
        "(expires 2026-12-27 12:00 UTC) | time_left=2332800s;864000:;432000:;;2592000",
    )
    assert f"(connected to 127.0.0.1:{tls10_server}), TLSv1 " in result.stdout


@pytest.mark.parametrize(
    ("kind", "version"),
    [("ec256", "TLSv1.3"), ("ec384", "TLSv1.3"), ("ed25519", "TLSv1.3"), ("ed25519", "TLSv1.2")],
)
def test_key_types(kind: str, version: str, serve: Callable, leaf_factory: Callable) -> None:
    leaf = leaf_factory(age=1, lifetime=30, key=kind, common_name=f"{kind}.internal")
    server = serve([leaf], max_version=getattr(ssl.TLSVersion, version.replace(".", "_")))
    result = run_plugin("-H", "127.0.0.1", "-p", str(server.port), "--now", NOW_ARG, "-v")
    assert result.first_line == (
        f"CERT_VALIDITY OK - 127.0.0.1:{server.port} certificate '{kind}.internal' has 29.0d "
        "left (expires 2026-12-29 12:00 UTC) | time_left=2505600s;864000:;432000:;;2592000"
    )
    assert f", {version} " in result.stdout


def _der_time_tags(leaf: Issued) -> bytes:
    """The two ASN.1 time tags of the validity field (0x17 UTCTime, 0x18 GeneralizedTime)."""
    der = leaf.cert.tbs_certificate_bytes
    start = der.index(not_before(leaf.cert).strftime("%y%m%d%H%M%SZ").encode()[:6])
    return bytes([der[start - 2], der[der.index(b"Z", start) + 1]])


def test_not_after_2055_is_generalized_time(serve: Callable) -> None:
    leaf = issue(
        not_before=datetime(2025, 6, 1, tzinfo=UTC),
        not_after=datetime(2055, 6, 1, tzinfo=UTC),
        common_name="far.internal",
    )
    assert _der_time_tags(leaf) == b"\x17\x18"  # UTCTime, then GeneralizedTime
    server = serve([leaf])
    result = run_plugin("-H", "127.0.0.1", "-p", str(server.port), "--now", NOW_ARG)
    assert (result.code, result.first_line) == (
        0,
        f"CERT_VALIDITY OK - 127.0.0.1:{server.port} certificate 'far.internal' has 10409.5d "
        "left (expires 2055-06-01 00:00 UTC) | time_left=899380800s;315561600:;157780800:;;"
        "946684800",
    )


def test_not_after_before_2000(serve: Callable) -> None:
    leaf = issue(
        not_before=datetime(1998, 1, 1, tzinfo=UTC),
        not_after=datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC),
        common_name="y2k.internal",
    )
    assert _der_time_tags(leaf) == b"\x17\x17"
    server = serve([leaf])
    result = run_plugin("-H", "127.0.0.1", "-p", str(server.port), "--now", NOW_ARG)
    assert (result.code, result.first_line) == (
        2,
        f"CERT_VALIDITY CRITICAL - 127.0.0.1:{server.port} certificate 'y2k.internal' expired "
        "9830.5d ago (1999-12-31 23:59 UTC) | time_left=-849355201s;21024000:;10512000:;;"
        "63071999",
    )


STRICT_OPENSSL_CNF = """\
openssl_conf = openssl_init
[openssl_init]
ssl_conf = ssl_sect
[ssl_sect]
system_default = system_default_sect
[system_default_sect]
MinProtocol = TLSv1.2
CipherString = DEFAULT:@SECLEVEL=2
"""


def test_tls10_despite_a_strict_system_openssl_cnf(tls10_server: int, tmp_path: Path) -> None:
    # Distributions may raise MinProtocol/SECLEVEL system-wide (Debian did in buster);
    # the probe sets its own floor, so the legacy server stays readable.
    cnf = tmp_path / "openssl.cnf"
    cnf.write_text(STRICT_OPENSSL_CNF)
    env = {**os.environ, "OPENSSL_CONF": str(cnf)}
    argv = [*plugin_command(), "-H", "127.0.0.1", "-p", str(tls10_server), "--now", NOW_ARG]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=30)
    assert proc.returncode == 0
    assert "certificate 'old.internal' has 27.0d left" in proc.stdout
    # negative control: the same configuration does stop the openssl client
    client = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{tls10_server}"],
        input="",
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert "BEGIN CERTIFICATE" not in client.stdout
