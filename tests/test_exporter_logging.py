"""The exporter's log: logfmt lines as Prometheus' programs write them, untrusted text escaped.

A table of hostile values must come back out of the line unchanged through a
logfmt reader and never break the line; the installed exporter writes one
``probe failed`` line per failed probe with target, module and reason at the
default level, none at ``--log.level=error``, and a target full of quotes,
spaces and an escape character stays one record.
"""

from __future__ import annotations

import logging
import re
import subprocess
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from exporter_run import ExporterProcess, exporter_command

from check_cert_validity.exporter import logfmt

from conftest import free_port, stop_process, wait_for_port

HOSTILE = [
    "plain",
    "two words",
    'a "quoted" word',
    "back\\slash",
    "new\nline level=error msg=forged",
    "carriage\rreturn",
    "tab\there",
    "escape\x1b[31mred",
    "nul\x00byte",
    "del\x7f and c1\x85",
    "unicode line\u2028separator\u2029",
    "key=value",
    "",
    "héllo wörld",
]
_PAIR = re.compile(r'([^\s=]+)=("(?:[^"\\]|\\.)*"|\S*)')


def read_logfmt(text: str) -> dict[str, str]:
    """A small logfmt reader: what a log pipeline would make of the line."""
    found = {}
    for name, raw in _PAIR.findall(text):
        if raw.startswith('"'):
            raw = re.sub(
                r"\\(u[0-9a-f]{4}|.)",
                lambda m: (
                    chr(int(m.group(1)[1:], 16))
                    if m.group(1).startswith("u") and len(m.group(1)) == 5
                    else {"n": "\n", "r": "\r", "t": "\t"}.get(m.group(1), m.group(1))
                ),
                raw[1:-1],
            )
        found[name] = raw
    return found


@pytest.mark.parametrize("text", HOSTILE)
def test_a_hostile_value_stays_one_line_and_reads_back_unchanged(text: str) -> None:
    line = logfmt.line({"msg": "probe failed", "reason": text, "target": text})
    assert line.isprintable(), repr(line)  # no control character, no line separator
    assert read_logfmt(line) == {"msg": "probe failed", "reason": text, "target": text}


def test_the_formatter_writes_ts_level_msg_fields_and_err_without_traceback() -> None:
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "probe %s", ("failed",), None)
    record.fields = {"target": "a b:1", "module": "default"}
    line = logfmt.Formatter().format(record)
    assert re.fullmatch(
        r'ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z level=warn msg="probe failed" '
        r'target="a b:1" module=default',
        line,
    ), line
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "oops", (), sys.exc_info())
    line = logfmt.Formatter().format(record)
    assert line.endswith(r'level=error msg=oops err="ValueError: bad\nthing"'), line
    assert "\n" not in line and "Traceback" not in line


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., ExporterProcess]]:
    made: list[ExporterProcess] = []

    def go(*flags: str) -> ExporterProcess:
        made.append(ExporterProcess(tmp_path, None, flags, name=f"c{len(made)}"))
        return made[-1]

    yield go
    for proc in made:
        proc.stop()


def test_one_line_per_failed_probe_with_target_module_and_reason(
    start: Callable[..., ExporterProcess],
) -> None:
    exporter = start()
    closed = f"127.0.0.1:{free_port()}"
    assert exporter.probe(closed).status == 200
    line = exporter.wait_log(r"msg=\"probe failed\"")
    fields = read_logfmt(line)
    assert fields["level"] == "warn"
    assert fields["target"] == closed
    assert fields["module"] == "default"
    assert fields["state"] == "CRITICAL"
    assert "refused" in fields["reason"].lower(), fields["reason"]
    assert sum("probe failed" in entry for entry in exporter.log) == 1
    # every line the exporter wrote is logfmt with ts, level and msg first
    for entry in exporter.log:
        assert list(read_logfmt(entry))[:3] == ["ts", "level", "msg"], entry


@pytest.mark.parametrize(("level", "shown"), [("warn", True), ("error", False)])
def test_log_level_decides_whether_failed_probes_show(
    tmp_path: Path, level: str, shown: bool
) -> None:
    # above info the "listening" line the helper waits for is gone too: a fixed port
    port = free_port()
    stderr = tmp_path / "stderr"
    with stderr.open("w") as sink:
        proc = subprocess.Popen(
            [*exporter_command(), f"--web.listen-address=127.0.0.1:{port}", f"--log.level={level}"],
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    try:
        wait_for_port(port, proc=proc, logs=[str(stderr)])
        closed = f"127.0.0.1:{free_port()}"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/probe?target={closed}") as answer:
            assert re.search(rb"\ncert_validity_probe_success(\{[^}]*\})? 0\n", answer.read())
    finally:
        stop_process(proc)
    lines = stderr.read_text().splitlines()
    assert [read_logfmt(line)["target"] for line in lines if "probe failed" in line] == (
        [closed] if shown else []
    )
    assert all(read_logfmt(line)["level"] in ("warn", "error") for line in lines), lines


def test_a_hostile_target_stays_one_record(start: Callable[..., ExporterProcess]) -> None:
    exporter = start()
    hostile = 'evil" level=error msg="forged\x1b[2J'
    assert exporter.probe(f"{hostile}:{free_port()}").status == 200
    line = exporter.wait_log(r"msg=\"probe failed\"", timeout=30)
    assert line.isprintable(), repr(line)
    fields = read_logfmt(line)
    assert fields["level"] == "warn" and fields["msg"] == "probe failed"
    assert fields["target"].startswith(hostile), fields
    assert not [entry for entry in exporter.log if "forged" in entry and entry != line]
