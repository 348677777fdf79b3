"""Paths that need less import less (start-up time is most of a check's cost).

Each case runs the installed package in a fresh interpreter and lists which
heavy libraries the path loaded. Timings are in bench/bench.py, not here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import contextlib, io, sys
from check_cert_validity.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    main(sys.argv[1:])
roots = ("OpenSSL", "cryptography", "nagiosplugin")
print(" ".join(sorted({m.split(".")[0] for m in sys.modules if m.split(".")[0] in roots}
                       | ({"OpenSSL.SSL"} & set(sys.modules)))))
"""


def loaded(*args: str) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return set(proc.stdout.split())


@pytest.mark.parametrize("args", [["--help"], ["-V"], ["--validity", "nonsense", "-H", "h"]])
def test_help_version_and_usage_errors_load_no_library(args: list[str]) -> None:
    assert loaded(*args) == set()


def test_explain_loads_neither_tls_nor_x509_nor_nagiosplugin() -> None:
    assert loaded("--explain", "--validity", "30d") == set()


def test_file_check_does_not_load_the_tls_library(tmp_path: Path) -> None:
    from datetime import timedelta

    from check_cert_validity.certfactory import issue

    from conftest import NOW

    pem = tmp_path / "c.pem"
    pem.write_bytes(issue(not_before=NOW, not_after=NOW + timedelta(days=1)).cert_pem())
    found = loaded("--file", str(pem))
    assert "cryptography" in found and "nagiosplugin" in found  # it did judge the file
    assert "OpenSSL.SSL" not in found
    # as metrics, the judgement needs no nagiosplugin
    assert "nagiosplugin" not in loaded("--file", str(pem), "--output", "openmetrics")


def test_negative_control_an_endpoint_check_loads_the_tls_library() -> None:
    # a closed port still builds the TLS client: the probe above can see it
    found = loaded("-H", "127.0.0.1", "-p", "1", "-t", "1", "-v", "--validity", "30d")
    assert "OpenSSL.SSL" in found


EXPORTER_ROOTS = ("prometheus_client", "yaml", "asyncio")


def exporter_libraries(*args: str) -> set[str]:
    code = PROBE.replace(
        'roots = ("OpenSSL", "cryptography", "nagiosplugin")', f"roots = {EXPORTER_ROOTS!r}"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return set(proc.stdout.split()) & set(EXPORTER_ROOTS)  # (the probe adds OpenSSL.SSL)


@pytest.mark.parametrize(
    "args",
    [
        ["-H", "127.0.0.1", "-p", "1", "-t", "1", "-v", "--validity", "30d"],
        ["-H", "127.0.0.1", "-p", "1", "-t", "1", "--output", "openmetrics"],
        ["--help"],
    ],
)
def test_the_plugin_imports_none_of_the_exporters_libraries(args: list[str]) -> None:
    assert exporter_libraries(*args) == set()


def test_negative_control_the_exporter_does_load_them() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; import check_cert_validity.exporter.handlers; "
            f"print(' '.join(sorted(m for m in {EXPORTER_ROOTS!r} if m in sys.modules)))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert set(proc.stdout.split()) == set(EXPORTER_ROOTS)
