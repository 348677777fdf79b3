"""``python -m build`` output: sdist and wheel, with the man page, passing twine check.

The ``installed`` fixture builds both and installs the wheel into a fresh venv
made from /usr/bin/python3, the way the README tells users to.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from check_cert_validity import __version__

from conftest import ROOT, Installed, cannot_run_as, daemon_user

NAME = f"check_cert_validity-{__version__}"
MAN = Path(ROOT, "man/check_cert_validity.1").read_bytes()


def artefacts(installed: Installed) -> tuple[str, str]:
    names = sorted(os.listdir(installed.dist))
    assert names == [f"{NAME}-py3-none-any.whl", f"{NAME}.tar.gz"]
    return os.path.join(installed.dist, names[0]), os.path.join(installed.dist, names[1])


def test_twine_check_passes(installed: Installed) -> None:
    wheel, sdist = artefacts(installed)
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", wheel, sdist],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASSED") == 2


def test_wheel_carries_the_man_page_and_one_version(installed: Installed) -> None:
    wheel, _ = artefacts(installed)
    with zipfile.ZipFile(wheel) as archive:
        man = archive.read(f"{NAME}.data/data/share/man/man1/check_cert_validity.1")
        metadata = archive.read(f"{NAME}.dist-info/METADATA").decode()
    assert man == MAN
    assert f"\nVersion: {__version__}\n" in metadata


def test_sdist_carries_docs_contrib_and_tests(installed: Installed) -> None:
    _, sdist = artefacts(installed)
    with tarfile.open(sdist) as archive:
        names = set(archive.getnames())
    for path in (
        "man/check_cert_validity.1",
        "contrib/icinga/check_cert_validity.conf",
        "contrib/nrpe/check_cert_validity.cfg",
        "CHANGELOG.md",
        "README.md",
        "tools/gendocs.py",
        "tests/conftest.py",
    ):
        assert f"{NAME}/{path}" in names


def test_installed_prefix_has_the_man_page(installed: Installed) -> None:
    page = Path(installed.prefix, "share/man/man1/check_cert_validity.1")
    assert page.read_bytes() == MAN
    if not shutil.which("man"):
        pytest.skip("no man command (man-db) to read it with")
    shown = subprocess.run(
        ["man", "-P", "cat", "check_cert_validity"],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "MANPATH": os.path.join(installed.prefix, "share/man"),
            "MANWIDTH": "80",
        },
    )
    assert shown.returncode == 0, shown.stderr
    assert "check_cert_validity - how long the TLS certificate" in " ".join(shown.stdout.split())


def test_installed_plugin_runs_as_the_daemon_user(installed: Installed) -> None:
    user, _ = daemon_user()
    reason = cannot_run_as(user, installed.plugin)
    if reason:  # e.g. no /usr/bin/python3, or TMPDIR in a folder closed to that user
        pytest.skip(reason)
    prefix = ["runuser", "-u", user, "--"] if os.geteuid() == 0 else []
    result = subprocess.run([*prefix, installed.plugin, "-V"], capture_output=True, text=True)
    assert (result.returncode, result.stdout, result.stderr) == (
        3,
        f"check_cert_validity {__version__}\n",
        "",
    )
