"""Command-line behaviour: usage errors, --help, --version, --explain."""

from __future__ import annotations

import pytest

from check_cert_validity import __version__
from check_cert_validity.cli import build_parser, main

from conftest import run_plugin


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["-H", "h", "--validity", "ten"], "argument --validity: invalid duration 'ten'"),
        (["-H", "h", "--validity", "30d", "--rotation", "30d"], "--rotation 30.0d must be shorter"),
        (["-H", "h", "--rotation=-1d"], "invalid duration '-1d': must not be negative"),
        (["-H", "h", "--validity", "0"], "--validity must be longer than zero"),
        (["-H", "h", "-p", "0"], "invalid port '0': must be 1 to 65535"),
        (["-H", "h", "-p", "65536"], "invalid port '65536': must be 1 to 65535"),
        (["-H", "h", "-p", "https"], "invalid port 'https': not a number"),
        (["-H", ""], "the host must not be empty"),
        (["-H", "h", "-t", "0"], "invalid timeout '0'"),
        (["-H", "h", "-w", "5:1"], "invalid range '5:1': start is above end"),
        (["-H", "h", "-4", "-6"], "argument -6/--ipv6: not allowed with argument -4/--ipv4"),
        (["-H", "h", "--bogus"], "unrecognized arguments: --bogus"),
        ([], "-H/--host is required"),
        (["--explain"], "--explain needs --validity"),
        (["-H", "h", "--now", "tomorrow"], "invalid time 'tomorrow'"),
        (["--file", "x.pem", "--starttls", "smtp"], "--starttls only apply to an endpoint"),
        (["--file", "x.pem", "--sni", "a", "--resolve", "::1"], "--resolve, --sni only apply"),
    ],
)
def test_usage_errors_exit_unknown_with_one_line_reason(
    args: list[str], reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 3
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("CERT_VALIDITY UNKNOWN - usage error: ")
    assert reason in out[0]
    assert out[1].startswith("usage: check_cert_validity")


def test_help_and_version_exit_unknown_as_the_guidelines_say() -> None:
    helped = run_plugin("--help")
    assert helped.code == 3
    assert helped.stdout.startswith("usage: check_cert_validity")
    assert "--rotation R" in helped.stdout
    version = run_plugin("-V")
    assert (version.code, version.stdout) == (3, f"check_cert_validity {__version__}\n")


def test_explain_connects_nowhere(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--explain", "--validity", "24h", "--rotation", "16h"]) == 3
    out = capsys.readouterr().out.splitlines()
    assert out[:5] == [
        "validity V = 24.0h, rotation R = 16.0h",
        "expected time left: 8.0h to 24.0h (a healthy certificate is at most 16.0h old)",
        "WARNING below 8.0h left: at least one rotation was missed",
        "WARNING above 24.0h left or lifetime: not issued by this rotation",
        "CRITICAL below 4.0h left: half the reaction window is gone",
    ]


def test_explain_with_fixed_ranges(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--explain", "--validity", "90d", "-w", "20:", "-c", "@0:5"])
    out = capsys.readouterr().out
    assert "WARNING when time left is below 20.0d (from -w)" in out
    assert "CRITICAL when time left is within 0s..5.0d (from -c)" in out


def test_parser_is_side_effect_free() -> None:
    first, second = build_parser(), build_parser()
    assert first.format_help() == second.format_help()
    assert first is not second
