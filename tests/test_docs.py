"""The man page, Icinga CheckCommand and README table follow ``build_parser()``.

``tools/gendocs.py`` generates them; these tests fail when a committed file is
stale (rerun ``python tools/gendocs.py``), check each file independently of
the generator against the options ``--help`` shows, and lint the man page.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from check_cert_validity import __version__
from check_cert_validity.cli import build_parser

from conftest import ROOT

MAN = Path(ROOT, "man/check_cert_validity.1")
ICINGA = Path(ROOT, "contrib/icinga/check_cert_validity.conf")
README = Path(ROOT, "README.md")
FLAG = re.compile(r"(?<![\w-])(--?[A-Za-z0-9][\w-]*)")


def load_gendocs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gendocs", Path(ROOT, "tools/gendocs.py"))
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["gendocs"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def help_flags() -> set[str]:
    """Every option string ``--help`` shows (usage and descriptions aside)."""
    text = build_parser().format_help()
    listed = [line for line in text.splitlines() if line.startswith("  -")]
    return {flag for line in listed for flag in FLAG.findall(line.split("  ")[1])}


def man_options_section() -> str:
    text = MAN.read_text(encoding="utf-8")
    section = text.split(".SH OPTIONS\n", 1)[1].split("\n.SH ", 1)[0]
    return section.replace("\\-", "-")


def readme_table() -> str:
    text = README.read_text(encoding="utf-8")
    return text.split("<!-- options:begin", 1)[1].split("<!-- options:end -->", 1)[0]


def test_help_lists_the_options_we_expect() -> None:
    # guards the regex the other tests rely on
    assert {"-H", "--host", "-p", "--port", "--no-sni", "-4", "--ipv6", "-V", "-h"} <= help_flags()


def test_committed_files_are_what_the_generator_makes() -> None:
    assert load_gendocs().stale(Path(ROOT)) == [], "stale: run python tools/gendocs.py"


def test_a_new_option_makes_every_file_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    # negative control: the staleness check really depends on the parser
    gendocs = load_gendocs()

    def bigger() -> argparse.ArgumentParser:
        parser = build_parser()
        parser.add_argument("--frobnicate", action="store_true", help="a new option")
        return parser

    monkeypatch.setattr(gendocs, "build_parser", bigger)
    assert sorted(map(str, gendocs.stale(Path(ROOT)))) == sorted(
        [
            "README.md",
            "contrib/icinga/check_cert_validity.conf",
            "man/check_cert_validity.1",
        ]
    )
    wanted = gendocs.generate(Path(ROOT))
    assert '"--frobnicate" = {' in wanted[Path("contrib/icinga/check_cert_validity.conf")]
    assert (
        'set_if = "$cert_validity_frobnicate$"'
        in wanted[Path("contrib/icinga/check_cert_validity.conf")]
    )


def test_man_page_has_every_option_and_no_stale_one() -> None:
    section = man_options_section()
    entries = [
        section.split("\n")[i + 1] for i, line in enumerate(section.split("\n")) if line == ".TP"
    ]
    names = [re.sub(r"\\f[BIR]", " ", entry.split("\\fI")[0]) for entry in entries]
    documented = {flag for name in names for flag in FLAG.findall(name)}
    assert documented == help_flags()


def test_icinga_command_maps_every_option_and_no_stale_one() -> None:
    text = ICINGA.read_text(encoding="utf-8")
    keys = set(re.findall(r'^\t\t"(--?[\w-]+)" = \{$', text, re.M))
    wanted = {
        next((f for f in action.option_strings if f.startswith("--")), action.option_strings[0])
        for action in build_parser()._actions
        if action.option_strings
    } - {"--help", "--version", "--explain"}
    assert keys == wanted
    # ITL conventions: prefixed variables, a description on every argument
    variables = set(re.findall(r"\$(\w+)\$", text)) - {"check_address"}
    assert variables and all(name.startswith("cert_validity_") for name in variables)
    assert text.count("description = ") == len(keys)
    assert 'import "ipv4-or-ipv6"' in text
    assert 'vars.cert_validity_address = "$check_address$"' in text
    for flag in ("--no-sni", "--ipv4", "--ipv6", "--verbose"):
        block = text.split(f'"{flag}" = {{', 1)[1].split("}", 1)[0]
        assert "set_if = " in block and "value = " not in block


def test_readme_table_has_every_option_and_no_stale_one() -> None:
    table = readme_table()
    cells = [row.split(" | ")[0] for row in table.splitlines() if row.startswith("| `")]
    documented = {flag for cell in cells for flag in FLAG.findall(cell.replace("`", " "))}
    assert documented == help_flags()


@pytest.mark.skipif(not shutil.which("mandoc"), reason="mandoc is not installed")
def test_man_page_passes_mandoc_lint() -> None:
    lint = subprocess.run(["mandoc", "-Tlint", str(MAN)], capture_output=True, text=True)
    assert (lint.returncode, lint.stdout, lint.stderr) == (0, "", "")


@pytest.mark.skipif(not shutil.which("groff"), reason="groff is not installed")
def test_man_page_passes_groff_warnings() -> None:
    run = subprocess.run(["groff", "-ww", "-z", "-man", str(MAN)], capture_output=True, text=True)
    assert (run.returncode, run.stderr) == (0, "")


@pytest.mark.skipif(not shutil.which("mandoc"), reason="mandoc is not installed")
def test_man_page_reads_right() -> None:
    text = subprocess.run(
        ["mandoc", "-Tascii", str(MAN)], capture_output=True, text=True, check=True
    ).stdout
    plain = re.sub(r".\x08", "", text)
    for section in (
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "OPTIONS",
        "THRESHOLDS",
        "EXIT STATUS",
        "EXAMPLES",
        "SEE ALSO",
    ):
        assert re.search(rf"^{section}$", plain, re.M), section
    flat = " ".join(plain.split())
    for example in (
        "V=90d, R=60d: OK from 30d to 90d left, WARNING below 30d, CRITICAL below 15d.",
        "V=7d, R=2d: OK from 5d to 7d left, WARNING below 5d, CRITICAL below 2.5d.",
        "V=24h, R=16h: OK from 8h to 24h left, WARNING below 8h, CRITICAL below 4h.",
    ):
        assert example in flat
    assert f"check_cert_validity {__version__}" in flat


def test_changelog_has_this_version() -> None:
    text = Path(ROOT, "CHANGELOG.md").read_text(encoding="utf-8")
    assert re.search(rf"^## \[{re.escape(__version__)}\] - \d{{4}}-\d{{2}}-\d{{2}}$", text, re.M)
