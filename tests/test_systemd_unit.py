"""contrib/systemd: the shipped unit under ``systemd-analyze verify`` and ``security``.

The unit is checked as shipped except for ExecStart's path, which points at
the console script this suite installed (verify insists the binary exists).
Verify must print nothing at all: it reports a misspelt setting as a warning
and still exits 0. The exposure score must stay at or below ``BOUND``; the
unit without its hardening, the negative control, must not. The default
config it names must be one the exporter accepts, and it limits the targets.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from exporter_run import ExporterProcess, exporter_command

from conftest import ROOT, free_port

CONTRIB = Path(ROOT) / "contrib" / "systemd"
UNIT = "check_cert_validity_exporter.service"
BOUND = 2.0  # the shipped unit scores 1.3 on Debian 12's systemd 252
HARDENING = re.compile(
    r"^(DynamicUser|NoNewPrivileges|Capability|Ambient|Protect|Private|Restrict|SystemCall"
    r"|LockPersonality|DevicePolicy|ProcSubset|UMask|RemoveIPC)\w*=.*\n",
    re.MULTILINE,
)


def analyze() -> str:
    found = shutil.which("systemd-analyze")
    if not found:
        pytest.skip("systemd-analyze not installed (Debian package systemd)")
    return found


def installed_unit(directory: Path, text: str | None = None) -> Path:
    text = text if text is not None else (CONTRIB / UNIT).read_text()
    shipped = "ExecStart=/usr/bin/check_cert_validity_exporter "
    assert shipped in text
    path = directory / UNIT
    path.write_text(text.replace(shipped, f"ExecStart={exporter_command()[0]} "))
    return path


def exposure(unit: Path) -> float:
    done = subprocess.run(
        [analyze(), "security", "--offline=yes", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", done.stdout)
    assert found, done.stdout + done.stderr
    return float(found.group(1))


def test_the_unit_verifies_without_a_word(tmp_path: Path) -> None:
    done = subprocess.run(
        [analyze(), "verify", "--man=no", str(installed_unit(tmp_path))],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert (done.returncode, done.stdout + done.stderr) == (0, "")
    # negative control: a bad value is a warning on stderr (and still exit 0)
    broken = (CONTRIB / UNIT).read_text().replace("ProtectSystem=strict", "ProtectSystem=bogus")
    done = subprocess.run(
        [analyze(), "verify", "--man=no", str(installed_unit(tmp_path, broken))],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert "bogus" in done.stderr


def test_the_unit_has_the_hardening_and_a_low_exposure_score(tmp_path: Path) -> None:
    text = (CONTRIB / UNIT).read_text()
    for setting in (
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ):
        assert f"\n{setting}\n" in text, setting
    score = exposure(installed_unit(tmp_path))
    assert score <= BOUND, score
    # negative control: the same unit without its hardening scores far above the bound
    bare = HARDENING.sub("", text)
    assert "ProtectSystem" not in bare
    assert exposure(installed_unit(tmp_path, bare)) > BOUND + 3


def test_the_default_config_is_accepted_and_limits_targets(tmp_path: Path) -> None:
    config = (CONTRIB / "check_cert_validity_exporter.yml").read_text()
    unit = (CONTRIB / UNIT).read_text()
    assert "--config.file=/etc/check_cert_validity/exporter.yml" in unit
    exporter = ExporterProcess(tmp_path, config)
    try:
        closed = f"127.0.0.1:{free_port()}"
        assert exporter.probe(closed, "internal_30d").status == 200
        outside = exporter.probe("192.0.2.1:443", "internal_30d")
        assert outside.status == 403 and "outside allowed_targets" in outside.body
    finally:
        exporter.stop()
