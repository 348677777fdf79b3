"""Certificate files: ``parse`` over a table of inputs, ``read`` on a real filesystem,
and ``--file`` end to end (whole status lines, exit codes, nothing of a key printed)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import serialization

from check_cert_validity import certfile
from check_cert_validity.certfactory import Issued
from check_cert_validity.certfile import CertFileError

from conftest import NOW_ARG, as_user, cannot_run_as, plugin_command, run_plugin


@pytest.fixture
def leaf(leaf_factory: Callable[..., Issued]) -> Issued:
    return leaf_factory(age=5, lifetime=30, common_name="file.internal", serial=0x1001)


@pytest.fixture
def intermediate(leaf_factory: Callable[..., Issued]) -> Issued:
    return leaf_factory(age=100, lifetime=365, ca=True, common_name="Issuing CA 2")


def der(item: Issued) -> bytes:
    return item.cert.public_bytes(serialization.Encoding.DER)


def key_body(item: Issued) -> list[bytes]:
    """The base64 lines of the key's PEM: none of them may ever be printed."""
    return [line for line in item.key_pem().splitlines() if b"-----" not in line]


# ---- parse: bytes in, certificates out ------------------------------------------------


def test_single_pem(leaf: Issued) -> None:
    bundle = certfile.parse(leaf.cert_pem())
    assert (bundle.certificates, bundle.encoding, bundle.skipped) == ((leaf.cert,), "PEM", ())


def test_bundle_keeps_the_order_leaf_first(leaf: Issued, intermediate: Issued) -> None:
    bundle = certfile.parse(leaf.cert_pem() + intermediate.cert_pem())
    assert bundle.certificates == (leaf.cert, intermediate.cert)
    reverse = certfile.parse(intermediate.cert_pem() + leaf.cert_pem())
    assert reverse.certificates == (intermediate.cert, leaf.cert)  # the file's order, always


def test_der(leaf: Issued) -> None:
    bundle = certfile.parse(der(leaf))
    assert (bundle.certificates, bundle.encoding) == ((leaf.cert,), "DER")


@pytest.mark.parametrize("key_first", [True, False])
def test_private_key_is_skipped(leaf: Issued, key_first: bool) -> None:
    data = leaf.key_pem() + leaf.cert_pem() if key_first else leaf.cert_pem() + leaf.key_pem()
    bundle = certfile.parse(data)
    assert (bundle.certificates, bundle.skipped) == ((leaf.cert,), ("PRIVATE KEY",))


def test_crlf_and_text_around_the_block(leaf: Issued) -> None:
    text = (
        b"Certificate:\n    Data: (openssl x509 -text output)\n" + leaf.cert_pem() + b"\ntrailer\n"
    )
    assert certfile.parse(text.replace(b"\n", b"\r\n")).certificates == (leaf.cert,)


def _truncated(item: Issued) -> bytes:
    pem = item.cert_pem()
    return pem[: len(pem) // 2]


def _bad_base64(item: Issued) -> bytes:
    lines = item.cert_pem().splitlines(keepends=True)
    lines[2] = b"!!!!" + lines[2][4:]
    return b"".join(lines)


def _key_as_certificate(item: Issued) -> bytes:
    return item.key_pem().replace(b"PRIVATE KEY", b"CERTIFICATE")


BAD_FILES: list[tuple[str, Callable[[Issued], bytes], str]] = [
    ("empty", lambda item: b"", "the file is empty"),
    ("blank", lambda item: b" \n\t\n", "the file holds only white space"),
    ("garbage", lambda item: b"hello, world\n", "not a certificate file (neither PEM nor DER)"),
    ("random", lambda item: os.urandom(64).replace(b"\x30", b"\x31"), "neither PEM nor DER"),
    ("bad DER", lambda item: b"\x30\x03\x02\x01\x01", "DER that does not parse as one"),
    (
        "DER key",
        lambda item: item.key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        "DER that does not parse as one",
    ),
    ("key only", lambda item: item.key_pem(), "no certificate in the file (it holds: PRIVATE KEY)"),
    ("truncated", _truncated, "no complete PEM block (a BEGIN line without its END: truncated?)"),
    ("bad base64", _bad_base64, "PEM block 1 (CERTIFICATE) is not a valid certificate"),
    ("key labelled", _key_as_certificate, "PEM block 1 (CERTIFICATE) is not a valid certificate"),
    ("2nd broken", lambda item: item.cert_pem() + _bad_base64(item), "PEM block 2 (CERTIFICATE)"),
]


@pytest.mark.parametrize(
    ("data", "message"), [(b[1], b[2]) for b in BAD_FILES], ids=[b[0] for b in BAD_FILES]
)
def test_bad_files(data: Callable[[Issued], bytes], message: str, leaf: Issued) -> None:
    with pytest.raises(CertFileError) as caught:
        certfile.parse(data(leaf))
    assert message in str(caught.value)
    assert not caught.value.cannot_look  # what a failed creation looks like
    for line in key_body(leaf):
        assert line.decode() not in str(caught.value)


# ---- read: the edge ---------------------------------------------------------------------


def test_read_errors(tmp_path: str) -> None:
    base = str(tmp_path)
    cases = {
        os.path.join(base, "missing.pem"): ("no such file", False),
        base: ("is a directory, not a certificate file", True),
    }
    plain = os.path.join(base, "plain")
    with open(plain, "w") as handle:
        handle.write("x")
    cases[os.path.join(plain, "below")] = ("no such file (a parent is not a directory)", False)
    fifo = os.path.join(base, "fifo")
    os.mkfifo(fifo)  # opening it would block forever: it must be refused before that
    cases[fifo] = ("is not a regular file", True)
    big = os.path.join(base, "big")
    with open(big, "wb") as handle:
        handle.write(b"-----BEGIN CERTIFICATE-----\n" + b"A" * (certfile.MAX_BYTES + 1))
    cases[big] = ("larger than 1024 KiB: not a certificate file", False)
    for path, (message, cannot_look) in cases.items():
        with pytest.raises(CertFileError) as caught:
            certfile.read(path)
        assert (str(caught.value), caught.value.cannot_look) == (message, cannot_look), path


# ---- --file end to end -----------------------------------------------------------------


def write(directory: str, name: str, data: bytes) -> str:
    path = os.path.join(directory, name)
    with open(path, "wb") as handle:
        handle.write(data)
    return path


def check_file(path: str, *args: str) -> tuple[int, str]:
    result = run_plugin("--file", path, "--now", NOW_ARG, *args)
    assert result.stderr == ""
    return result.code, result.first_line


@pytest.mark.parametrize("encoding", ["pem", "der", "key+pem"])
def test_file_ok_whole_line(encoding: str, leaf: Issued, tmp_path: str) -> None:
    data = {"pem": leaf.cert_pem(), "der": der(leaf), "key+pem": leaf.key_pem() + leaf.cert_pem()}
    path = write(str(tmp_path), f"svc.{encoding}", data[encoding])
    code, line = check_file(path, "--validity", "30d", "--rotation", "10d")
    assert (code, line) == (
        0,
        f"CERT_VALIDITY OK - {path} certificate 'file.internal' has 25.0d left "
        "(expires 2026-12-25 12:00 UTC) | time_left=2160000s;1728000:2592000;864000:;;2592000",
    )


def test_file_thresholds_are_the_same(leaf_factory: Callable[..., Issued], tmp_path: str) -> None:
    old = leaf_factory(age=15.8, lifetime=30, common_name="db1.internal")
    path = write(str(tmp_path), "db1.pem", old.cert_pem())
    code, line = check_file(path, "--validity", "30d", "--rotation", "10d")
    assert (code, line) == (
        1,
        f"CERT_VALIDITY WARNING - {path} certificate 'db1.internal' has 14.2d left, rotation "
        "overdue by 5.8d (expires 2026-12-14 16:48 UTC) "
        "| time_left=1226880s;1728000:2592000;864000:;;2592000",
    )


def test_key_is_never_printed(leaf: Issued, intermediate: Issued, tmp_path: str) -> None:
    path = write(
        str(tmp_path), "all.pem", leaf.cert_pem() + leaf.key_pem() + intermediate.cert_pem()
    )
    result = run_plugin("--file", path, "--now", NOW_ARG, "-vvv", "--chain")
    assert result.code == 0
    assert f"file: {path} (PEM, 2 certificates; skipped: PRIVATE KEY)" in result.stdout.splitlines()
    assert "chain[1]: CN=Issuing CA 2,O=check_cert_validity test" in result.stdout
    for line in key_body(leaf):
        assert line.decode() not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.pem", b"", "the file is empty"),
        (
            "garbage.pem",
            b"not a certificate at all\n",
            "not a certificate file (neither PEM nor DER)",
        ),
        ("key.pem", None, "no certificate in the file (it holds: PRIVATE KEY)"),
    ],
)
def test_bad_file_is_critical(
    name: str, data: bytes, reason: str, leaf: Issued, tmp_path: str
) -> None:
    path = write(str(tmp_path), name, leaf.key_pem() if data is None else data)
    assert check_file(path) == (2, f"CERT_VALIDITY CRITICAL - {path}: {reason}")
    assert check_file(path, "--unreachable-state", "warning") == (
        1,
        f"CERT_VALIDITY WARNING - {path}: {reason}",
    )


def test_missing_file_is_critical(tmp_path: str) -> None:
    path = os.path.join(str(tmp_path), "never-written.pem")
    assert check_file(path) == (2, f"CERT_VALIDITY CRITICAL - {path}: no such file")


def test_directory_is_unknown(tmp_path: str) -> None:
    path = str(tmp_path)
    line = f"CERT_VALIDITY UNKNOWN - {path}: is a directory, not a certificate file"
    assert check_file(path) == (3, line)
    # we cannot look: --unreachable-state does not apply
    assert check_file(path, "--unreachable-state", "ok") == (3, line)


def test_unreadable_file_is_unknown(leaf: Issued) -> None:
    directory = tempfile.mkdtemp(prefix="ccv-")
    try:
        os.chmod(directory, 0o755)
        path = write(directory, "secret.pem", leaf.cert_pem())
        os.chmod(path, 0o000)
        command = [*plugin_command(), "--file", path, "--now", NOW_ARG]
        switch = {}
        if os.geteuid() == 0:  # root reads anything: run the plugin as nobody instead
            reason = cannot_run_as("nobody", plugin_command()[0])
            if reason:
                pytest.skip(reason)
            switch = as_user("nobody")
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, **switch)
        assert (done.returncode, done.stdout.splitlines()[0]) == (
            3,
            f"CERT_VALIDITY UNKNOWN - {path}: cannot read it: permission denied",
        )
        os.chmod(path, 0o644)  # negative control: readable, the same command is OK
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, **switch)
        assert done.returncode == 0
    finally:
        for name in os.listdir(directory):
            os.unlink(os.path.join(directory, name))
        os.rmdir(directory)


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--file", "x.pem", "-H", "h"], "--file checks a file, -H an endpoint: give one of them"),
        (
            ["--expect-file", "x.pem"],
            "--expect-file needs -H/--host (the service that should serve it)",
        ),
        (["--chain"], "-H/--host is required (or --file PATH)"),
    ],
)
def test_usage_errors(args: list[str], reason: str) -> None:
    result = run_plugin(*args)
    assert result.code == 3
    assert result.first_line == f"CERT_VALIDITY UNKNOWN - usage error: {reason}"


def test_help_lists_the_modes() -> None:
    helped = run_plugin("-h").stdout
    for option in ("--chain", "--file PATH", "--expect-file PATH"):
        assert option in helped


IMPORTS = (
    "import sys; from check_cert_validity.cli import main; code = main(sys.argv[1:]); "
    "print('OpenSSL.SSL' in sys.modules, code)"
)


def test_file_check_does_not_import_the_tls_library(
    leaf: Issued, tmp_path: str, serve: Callable
) -> None:
    path = write(str(tmp_path), "svc.pem", leaf.cert_pem())
    done = subprocess.run(
        [sys.executable, "-c", IMPORTS, "--file", path], capture_output=True, text=True
    )
    assert done.stdout.splitlines()[-1] == "False 0"
    # negative control: the endpoint check does import it, and the probe sees that
    server = serve([leaf])
    done = subprocess.run(
        [sys.executable, "-c", IMPORTS, "-H", "127.0.0.1", "-p", str(server.port)],
        capture_output=True,
        text=True,
    )
    assert done.stdout.splitlines()[-1] == "True 0"
