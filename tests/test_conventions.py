"""The Monitoring Plugins development guidelines, checked on the installed script.

https://www.monitoring-plugins.org/doc/guidelines.html: -h/-V exit UNKNOWN,
the reserved options -H -p -t -w -c -v behave as in every plugin, one line of
output by default, and performance data in the guidelines' grammar (parsed
here by a strict parser written from that grammar, with its own negative
controls).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from check_cert_validity import __version__

from conftest import NOW_ARG, run_plugin

# Nagios 3 keeps at most 4 KB of plugin output (MAX_PLUGIN_OUTPUT_LENGTH 4096)
NAGIOS_OUTPUT_LIMIT = 4096

# --- a strict parser of the guidelines' perfdata grammar:
#   'label'=value[UOM];[warn];[crit];[min];[max]
# label: any characters but '=' and "'"; quotes optional, needed for spaces;
# a quote inside a quoted label is written ''. value, min, max: [-0-9.] (or
# value U). warn, crit: ranges [@][start:]end with start ~ for -infinity.
# UOM: none, s ms us, %, B KB MB TB, c. Trailing empty fields may be dropped.
_NUM = r"-?(?:\d+(?:\.\d*)?|\.\d+)"
_RANGE = rf"@?(?:(?:~|{_NUM}):(?:{_NUM})?|{_NUM})"
_LABEL = r"'(?:[^'=]|'')+'|[^'=\s]+"
_UOM = r"s|ms|us|%|B|KB|MB|TB|c"
_ITEM = re.compile(
    rf"(?P<label>{_LABEL})=(?P<value>{_NUM}|U)(?P<uom>{_UOM})?"
    rf"(?:;(?P<warn>{_RANGE})?(?:;(?P<crit>{_RANGE})?"
    rf"(?:;(?P<min>{_NUM})?(?:;(?P<max>{_NUM})?)?)?)?)?"
)


@dataclass(frozen=True)
class Perf:
    label: str
    value: str
    uom: str
    warn: str | None
    crit: str | None
    min: str | None
    max: str | None


def parse_perfdata(text: str) -> list[Perf]:
    """Parse a perfdata string; raise ValueError on anything off-grammar."""
    items: list[Perf] = []
    position = 0
    text = text.strip(" ")
    while position < len(text):
        match = _ITEM.match(text, position)
        if not match:
            raise ValueError(f"bad perfdata at {text[position:]!r}")
        end = match.end()
        if end < len(text) and text[end] != " ":
            raise ValueError(f"bad perfdata at {text[position:]!r}")
        label = match["label"]
        if label.startswith("'"):
            label = label[1:-1].replace("''", "'")
        items.append(
            Perf(
                label,
                match["value"],
                match["uom"] or "",
                match["warn"],
                match["crit"],
                match["min"],
                match["max"],
            )
        )
        position = end
        while position < len(text) and text[position] == " ":
            position += 1
    return items


@pytest.mark.parametrize(
    ("text", "first"),
    [
        ("time_left=5s", Perf("time_left", "5", "s", None, None, None, None)),
        ("'a b'=1;~:10;@5:7;0;100", Perf("a b", "1", "", "~:10", "@5:7", "0", "100")),
        ("'it''s'=2%", Perf("it's", "2", "%", None, None, None, None)),
        ("x=U", Perf("x", "U", "", None, None, None, None)),
        ("x=1.5KB;;;;", Perf("x", "1.5", "KB", None, None, None, None)),
        ("x=-3c;10:;20 y=1", Perf("x", "-3", "c", "10:", "20", None, None)),
    ],
)
def test_perfdata_parser_accepts_the_grammar(text: str, first: Perf) -> None:
    assert parse_perfdata(text)[0] == first


@pytest.mark.parametrize(
    "text",
    [
        "time_left=5x",  # unit not in the guidelines
        "time_left=5sec",
        "time left=5s",  # space needs quotes
        "'a'b'=1",  # stray quote
        "a=1;2;3;4;5;6",  # too many fields
        "a=1s;abc",  # not a range
        "a=1s;10:5:2",
        "a=",
        "=1",
        "a=1,5",  # decimal comma
        "a=1s|b=2",
    ],
)
def test_perfdata_parser_rejects_the_rest(text: str) -> None:
    with pytest.raises(ValueError):
        parse_perfdata(text)


def split_status(stdout: str) -> tuple[str, list[Perf]]:
    lines = stdout.splitlines()
    assert len(lines) == 1, stdout
    text, _, perf = lines[0].partition(" | ")
    assert "|" not in text
    return text, parse_perfdata(perf)


def test_help_and_version_exit_unknown() -> None:
    for args in (["-h"], ["--help"]):
        helped = run_plugin(*args)
        assert helped.code == 3
        assert helped.stdout.startswith("usage: check_cert_validity ")
        for flag in ("-H", "-p", "-t", "-w", "-c", "-v", "-V", "-h"):
            assert re.search(rf"(^|[\s\[,]){flag}[\s,]", helped.stdout), flag
    for args in (["-V"], ["--version"]):
        version = run_plugin(*args)
        assert (version.code, version.stdout, version.stderr) == (
            3,
            f"check_cert_validity {__version__}\n",
            "",
        )


@pytest.mark.parametrize(
    ("age", "state"), [(5, "OK"), (22, "WARNING"), (26, "CRITICAL"), (31, "CRITICAL")]
)
def test_default_output_is_one_line_with_grammatical_perfdata(
    age: float, state: str, serve: Callable, leaf_factory: Callable
) -> None:
    server = serve([leaf_factory(age=age, lifetime=30, common_name="svc.internal")])
    result = run_plugin("-H", "127.0.0.1", "-p", str(server.port), "--now", NOW_ARG)
    assert result.stderr == ""
    text, perf = split_status(result.stdout)
    assert text.startswith(f"CERT_VALIDITY {state} - ")
    assert result.code == {"OK": 0, "WARNING": 1, "CRITICAL": 2}[state]
    assert [(p.label, p.uom, p.min, p.max) for p in perf] == [("time_left", "s", None, "2592000")]
    assert int(perf[0].value) == round((30 - age) * 86400)


def test_worst_case_line_stays_under_the_nagios_limit(
    serve: Callable, leaf_factory: Callable
) -> None:
    # 64 characters is the longest CN X.509 allows; each control byte is escaped to 4
    server = serve([leaf_factory(age=1, lifetime=30, common_name="\x1b|\n" * 21 + "x")])
    host = "a" * 63 + ".invalid"
    result = run_plugin("-H", host, "-p", str(server.port), "--now", NOW_ARG)
    assert result.stdout.count("\n") == 1
    result = run_plugin("-H", "127.0.0.1", "-p", str(server.port), "--sni", host, "--now", NOW_ARG)
    text, perf = split_status(result.stdout)
    assert "\\x1b\\x7c\\x0a" in text
    assert len(result.stdout.encode()) < NAGIOS_OUTPUT_LIMIT
    assert len(perf) == 1


@pytest.mark.parametrize(
    ("args", "code"),
    [
        # the guidelines' range table, over 25 days left
        (["-w", "30:"], 1),  # alert below 30
        (["-w", "20:"], 0),
        (["-w", "20"], 1),  # alert outside 0..20
        (["-w", "30"], 0),
        (["-w", "~:20"], 1),  # alert above 20
        (["-w", "10:20"], 1),  # outside 10..20
        (["-w", "@20:30"], 1),  # inside 20..30
        (["-w", "@10:20"], 0),
        (["-c", "30:"], 2),
        (["-w", "30:", "-c", "26:"], 2),  # critical wins
        (["-w", "600h:"], 0),  # units allowed; the bound itself is inside the range
        (["-w", "601h:"], 1),
    ],
)
def test_warning_and_critical_take_nagios_ranges(
    args: list[str], code: int, serve: Callable, leaf_factory: Callable
) -> None:
    server = serve([leaf_factory(age=5, lifetime=30, common_name="svc.internal")])
    result = run_plugin("-H", "127.0.0.1", "-p", str(server.port), "--now", NOW_ARG, *args)
    assert result.code == code, result.stdout
    split_status(result.stdout)


def test_host_and_port_spellings(serve: Callable, leaf_factory: Callable) -> None:
    server = serve([leaf_factory(age=5, lifetime=30, common_name="svc.internal")])
    lines = set()
    for args in (
        ["-H", "127.0.0.1", "-p", str(server.port)],
        ["-H127.0.0.1", f"-p{server.port}"],
        ["--hostname", "127.0.0.1", "--port", str(server.port)],
        ["--host=127.0.0.1", f"--port={server.port}"],
    ):
        result = run_plugin(*args, "--now", NOW_ARG)
        assert result.code == 0
        lines.add(result.stdout)
    assert len(lines) == 1


@pytest.mark.parametrize("timeout", ["0", "-1", "abc", "3601"])
def test_bad_timeout_is_a_usage_error(timeout: str) -> None:
    result = run_plugin("-H", "127.0.0.1", "-t", timeout)
    assert result.code == 3
    assert result.first_line.startswith("CERT_VALIDITY UNKNOWN - usage error: ")


def test_verbose_levels_add_lines(serve: Callable, leaf_factory: Callable) -> None:
    server = serve([leaf_factory(age=5, lifetime=30, common_name="svc.internal")])
    base = ["-H", "127.0.0.1", "-p", str(server.port), "--now", NOW_ARG]
    quiet, v1, v2 = (run_plugin(*base, *extra) for extra in ([], ["-v"], ["-vv"]))
    assert quiet.code == v1.code == v2.code == 0
    assert quiet.first_line == v1.first_line == v2.first_line
    assert len(quiet.stdout.splitlines()) == 1 < len(v1.stdout.splitlines())
    assert len(v1.stdout.splitlines()) <= len(v2.stdout.splitlines())
