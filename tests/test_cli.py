"""Command-line behaviour: usage errors, --help, --version, --explain."""

from __future__ import annotations

import subprocess
import sys

import pytest

from check_cert_validity import __version__
from check_cert_validity.cli import build_parser, main

from conftest import plugin_command, run_plugin


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
        (["-H", "h", "--bogus"], "unrecognized option --bogus"),
        ([], "-H/--host is required"),
        (["--explain"], "--explain needs --validity"),
        (["-H", "h", "--now", "tomorrow"], "invalid time 'tomorrow'"),
        (["--file", "x.pem", "--starttls", "smtp"], "--starttls only apply to an endpoint"),
        (["--file", "x.pem", "--sni", "a", "--resolve", "::1"], "--resolve, --sni only apply"),
        # every option with a value of the wrong type
        (["-H", "h", "-p", "4.5"], "invalid port '4.5': not a number"),
        (["-H", "h", "-p", "0x1bb"], "invalid port '0x1bb': not a number"),
        (["-H", "h", "-t", "soon"], "invalid timeout 'soon': not a number"),
        (["-H", "h", "-t", "nan"], "invalid timeout 'nan': must be above 0"),
        (["-H", "h", "-t", "inf"], "invalid timeout 'inf': must be above 0"),
        (["-H", "h", "-t", "3601"], "invalid timeout '3601': must be above 0 and at most 3600"),
        (["-H", "h", "--rotation", "often"], "argument --rotation: invalid duration 'often'"),
        (["-H", "h", "-w", "abc"], "argument -w/--warning: invalid range 'abc'"),
        (["-H", "h", "-c", "x:"], "argument -c/--critical: invalid range 'x:'"),
        (["-H", "h", "-c", "@"], "argument -c/--critical: invalid range '@': empty"),
        (["-H", "h", "--now", "2026-13-01"], "invalid time '2026-13-01'"),
        (["-H", "h", "--unreachable-state", "bad"], "invalid choice: 'bad'"),
        (["-H", "h", "-v=3"], "argument -v/--verbose: ignored explicit argument '3'"),
        (["-H", "h", "--sni", "a..b"], "invalid server name 'a..b': label empty or too long"),
        (["-H", "h", "--sni", ""], "the server name must not be empty (--no-sni sends none)"),
        (["-H", "a..b"], "invalid host name 'a..b': label empty or too long"),
        (["-H", "x" * 64 + ".example"], "label empty or too long"),
        (["-H", "h", "-p"], "argument -p/--port: expected one argument"),
        (["-H"], "argument -H/--host/--hostname: expected one argument"),
        # negative and zero durations; argparse reads "-1d" as an option
        (["-H", "h", "--validity", "-1d"], "expected one argument (negative values are not"),
        (["-H", "h", "--rotation", "-2h"], "expected one argument (negative values are not"),
        (["-H", "h", "-t", "-1"], "expected one argument (negative values are not"),
        (["-H", "h", "-p", "-1"], "expected one argument (negative values are not"),
        (["-H", "h", "--validity=-1d"], "invalid duration '-1d': must not be negative"),
        (["-H", "h", "--timeout=-1"], "invalid timeout '-1': must be above 0"),
        (["-H", "h", "--rotation", "0"], "--rotation must be longer than zero"),
        (["-H", "h", "--validity", "0s", "--rotation", "1s"], "--validity must be longer than"),
        (["-H", "h", "-t", "0.0"], "invalid timeout '0.0'"),
        # unknown units and numbers float() takes but a duration should not
        (["-H", "h", "--validity", "10y"], "invalid duration '10y'"),
        (["-H", "h", "--validity", "5 days"], "invalid duration '5 days'"),
        (["-H", "h", "--validity", "1e3"], "invalid duration '1e3'"),
        (["-H", "h", "--validity", "inf"], "invalid duration 'inf'"),
        (["-H", "h", "--validity", "9" * 400], "too large"),
        (["-H", "h", "-w", "9" * 400 + ":"], "too large"),
        (["-H", "h", "-c", "10y:"], "invalid duration '10y'"),
        # --rotation >= --validity
        (["-H", "h", "--validity", "1d", "--rotation", "2d"], "--rotation 2.0d must be shorter"),
        (["-H", "h", "--validity", "24h", "--rotation", "1d"], "--rotation 24.0h must be shorter"),
        # ports and hosts
        (["-H", "h", "-p", "-0"], "expected one argument"),
        (["-H", "   "], "the host must not be empty"),
        (["-H", "[]"], "the host must not be empty"),
        (["-H", "[ ]"], "the host must not be empty"),
        # conflicting options
        (["-H", "h", "--sni", "x", "--no-sni"], "argument --no-sni: not allowed with argument"),
        (["-H", "h", "-6", "-4"], "argument -4/--ipv4: not allowed with argument -6/--ipv6"),
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


BAD_ARGUMENTS = [
    ["-H", "h", "-p", "65536"],
    ["-H", "h", "--validity", "-1d"],
    ["-H", "h", "--validity", "30d", "--rotation", "30d"],
    ["-H", "", "-t", "2"],
    ["-H", "h", "-4", "-6"],
    ["-H", "h", "--validity", "10y"],
]


@pytest.mark.parametrize("args", BAD_ARGUMENTS)
def test_usage_errors_from_the_installed_script(args: list[str]) -> None:
    result = run_plugin(*args)
    lines = result.stdout.splitlines()
    assert (result.code, result.stderr) == (3, "")
    assert lines[0].startswith("CERT_VALIDITY UNKNOWN - usage error: ")
    assert lines[1].startswith("usage: check_cert_validity ")
    assert all(line.startswith(" ") for line in lines[2:]), "only the usage continues"


def test_file_with_host_conflicts() -> None:
    if "--file" not in run_plugin("--help").stdout:
        pytest.skip("--file is not in --help yet (issue 4, built in parallel)")
    result = run_plugin("--file", "/dev/null", "-H", "h")
    assert result.code == 3 and result.stderr == ""
    assert result.first_line.startswith("CERT_VALIDITY UNKNOWN - usage error: ")
    assert "--file" in result.first_line and "-H" in result.first_line


def test_a_closed_stdout_gives_no_traceback() -> None:
    # a reader that goes away (`check_cert_validity ... | head -c0`) must not
    # turn into a traceback on stderr
    proc = subprocess.Popen(
        [*plugin_command(), "-H", "h", "-p", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(10) == 3
    assert err == b""


def test_main_leaves_the_garbage_collector_alone(capsys: pytest.CaptureFixture[str]) -> None:
    # only the console script (a process of its own) switches the collector off
    import gc

    assert gc.isenabled()
    assert main(["--explain", "--validity", "30d"]) == 3
    assert gc.isenabled()
    assert capsys.readouterr().out.startswith("validity V = 30.0d")


def test_the_console_script_runs_without_the_collector() -> None:
    probe = (
        "import gc, sys; from check_cert_validity import console; "
        "code = console.main(); print('collector', gc.isenabled()); sys.exit(code)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe, "--explain", "--validity", "30d"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 3 and proc.stderr == ""
    assert proc.stdout.splitlines()[-1] == "collector False"
