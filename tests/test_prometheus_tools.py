"""--output openmetrics against real TLS servers, read by real Prometheus tools from Debian.

``promtool check metrics`` (Debian package prometheus) lints each output, and
a real ``prometheus-node-exporter`` with only its textfile collector, on a
free loopback port, serves what the plugin wrote; the test reads the series
back over HTTP. Certificates include hostile subject text: quotes,
backslashes, newlines, ``|``, exposition syntax, and bytes that are not UTF-8.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from prometheus_client.parser import text_string_to_metric_families

from check_cert_validity.certfactory import Issued, issue

from conftest import NOW, NOW_ARG, free_port, run_plugin, stop_process

pytestmark = pytest.mark.integration

D = 86400
HOSTILE_CN = 'evil"\\ |x\ny} 1\n# EOF'
HOSTILE_LABEL = 'evil"\\ \\x7cx\\x0ay} 1\\x0a# EOF'  # as the status line shows it


def promtool() -> str:
    found = shutil.which("promtool")
    if not found:
        pytest.skip("promtool not installed (Debian package prometheus)")
    return found


def non_utf8_leaf(ca: Issued, age: float, lifetime: float) -> Issued:
    """A leaf whose CN is a T61String of bytes that are not UTF-8.

    OpenSSL reads T61String as Latin-1 and serves it; cryptography cannot
    decode it. The signature no longer matches, which nothing here checks.
    """
    start = NOW - timedelta(days=age)
    made = issue(
        not_before=start,
        not_after=start + timedelta(days=lifetime),
        common_name="PLACEHOLDER",
        sans=(),
        issuer=ca,
    )
    der = made.cert.public_bytes(serialization.Encoding.DER)
    at = der.index(b"\x0c\x0bPLACEHOLDER")
    payload = b'\xff\xfe\x80"\\\n|}{=,'
    der = der[:at] + b"\x14\x0b" + payload + der[at + 13 :]
    return Issued(x509.load_der_x509_certificate(der), made.key)


def metrics_run(port: int, *args: str) -> tuple[int, str]:
    result = run_plugin("-H", "127.0.0.1", "-p", str(port), "--now", NOW_ARG, *args)
    assert result.stderr == ""
    return result.code, result.stdout


def nagios_code(port: int, *args: str) -> int:
    return run_plugin("-H", "127.0.0.1", "-p", str(port), "--now", NOW_ARG, *args).code


def series(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.fixture
def endpoints(serve: Callable, leaf_factory: Callable, ca: Issued) -> dict[str, tuple]:
    """name -> (port, extra args, Nagios exit code)."""
    return {
        "ok": (
            serve([leaf_factory(age=5, lifetime=30, common_name="svc.internal")]).port,
            ("--validity", "30d", "--rotation", "10d"),
            0,
        ),
        "warning": (
            serve([leaf_factory(age=15.8, lifetime=30)]).port,
            ("--validity", "30d", "--rotation", "10d"),
            1,
        ),
        "expired": (serve([leaf_factory(age=31, lifetime=30)]).port, (), 2),
        "hostile": (serve([leaf_factory(age=1, lifetime=30, common_name=HOSTILE_CN)]).port, (), 0),
        "non_utf8": (serve([non_utf8_leaf(ca, age=1, lifetime=30)]).port, (), 0),
        "unreachable": (free_port(), (), 2),
    }


def test_promtool_accepts_every_output(endpoints: dict[str, tuple]) -> None:
    tool = promtool()
    for name, (port, extra, code) in endpoints.items():
        got_code, text = metrics_run(port, *extra, "--output", "openmetrics", "-v")
        assert (name, got_code) == (name, code)
        assert got_code == nagios_code(port, *extra), name  # the exit code stays the Nagios state
        assert text.startswith("# HELP cert_validity_probe_success ") and text.endswith("# EOF\n")
        lint = subprocess.run(
            [tool, "check", "metrics"], input=text, capture_output=True, text=True, check=False
        )
        assert (name, lint.returncode, lint.stdout, lint.stderr) == (name, 0, "", "")


def test_promtool_negative_control_rejects_an_unescaped_label() -> None:
    lint = subprocess.run(
        [promtool(), "check", "metrics"],
        input='# HELP x y\n# TYPE x gauge\nx{cn="a"b"} 1\n',
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode != 0


def test_hostile_and_non_utf8_names_stay_inside_their_label(endpoints: dict[str, tuple]) -> None:
    port, extra, _ = endpoints["hostile"]
    _, text = metrics_run(port, *extra, "--output", "openmetrics")
    cns = {dict(labels).get("cn") for (_name, labels) in series(text)} - {None}
    assert cns == {HOSTILE_LABEL}
    port, extra, _ = endpoints["non_utf8"]
    code, text = metrics_run(port, *extra, "--output", "openmetrics")
    cns = {dict(labels).get("cn") for (_name, labels) in series(text)} - {None}
    assert (code, cns) == (0, {"<no CN or SAN>"})
    # The Nagios line for the same certificate is a normal judgement, not an internal error.
    line = run_plugin("-H", "127.0.0.1", "-p", str(port), "--now", NOW_ARG).stdout
    assert line.startswith(f"CERT_VALIDITY OK - 127.0.0.1:{port} certificate '<no CN or SAN>' ")


class NodeExporter:
    """prometheus-node-exporter with only the textfile collector, on loopback."""

    def __init__(self, binary: str, directory: str) -> None:
        for _attempt in range(3):
            self.port = free_port()
            self.proc = subprocess.Popen(
                [
                    binary,
                    "--collector.disable-defaults",
                    "--collector.textfile",
                    f"--collector.textfile.directory={directory}",
                    "--web.disable-exporter-metrics",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            if self._ready():
                return
            self.close()
        raise RuntimeError("node_exporter did not start")

    def _ready(self) -> bool:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                self.scrape()
                return True
            except OSError:
                time.sleep(0.05)
        return False

    def scrape(self) -> str:
        url = f"http://127.0.0.1:{self.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode("utf-8"))

    def close(self) -> None:
        stop_process(self.proc)
        if self.proc.stderr:
            self.proc.stderr.close()


@pytest.fixture
def textfile_dir() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="ccv-textfile-") as directory:
        yield directory


@pytest.fixture
def node_exporter(textfile_dir: str) -> Iterator[NodeExporter]:
    binary = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
    if not binary:
        pytest.skip("prometheus-node-exporter not installed (Debian package)")
    exporter = NodeExporter(binary, textfile_dir)
    yield exporter
    exporter.close()


def write_atomically(directory: str, name: str, text: str) -> None:
    """What the README's cron line does: write beside, then rename."""
    temp = os.path.join(directory, f".{name}.tmp")
    with open(temp, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temp, os.path.join(directory, f"{name}.prom"))


def test_node_exporter_serves_the_series(
    endpoints: dict[str, tuple], node_exporter: NodeExporter, textfile_dir: str
) -> None:
    outputs = {}
    for name, (port, extra, _code) in endpoints.items():
        outputs[name] = metrics_run(port, *extra, "--output", "openmetrics")[1]
        write_atomically(textfile_dir, name, outputs[name])
    served = series(node_exporter.scrape())
    assert served[("node_textfile_scrape_error", frozenset())] == 0
    for name, text in outputs.items():  # every series of every file, value for value
        for key, value in series(text).items():
            assert served.get(key) == value, (name, key)

    ok_port = endpoints["ok"][0]
    endpoint = {("host", "127.0.0.1"), ("port", str(ok_port)), ("sni", "")}
    ok = {
        (name, labels): value
        for (name, labels), value in served.items()
        if labels >= endpoint and name.startswith("cert_validity_")
    }
    serial = next(dict(lbl)["serial"] for (_n, lbl) in ok if "serial" in dict(lbl))
    cert = frozenset(
        endpoint
        | {
            ("kind", "certificate"),
            ("position", "0"),
            ("cn", "svc.internal"),
            ("issuer", "Test Root CA"),
            ("serial", serial),
        }
    )
    assert ok == {
        ("cert_validity_probe_success", frozenset(endpoint)): 1,
        ("cert_validity_state", frozenset(endpoint)): 0,
        ("cert_validity_time_left_seconds", cert): 25 * D,
        ("cert_validity_lifetime_seconds", cert): 30 * D,
        ("cert_validity_age_seconds", cert): 5 * D,
        ("cert_validity_not_after_timestamp_seconds", cert): (NOW + timedelta(days=25)).timestamp(),
        ("cert_validity_expected_min_seconds", cert): 20 * D,
        ("cert_validity_expected_max_seconds", cert): 30 * D,
        ("cert_validity_critical_seconds", cert): 10 * D,
    }
    unreachable = {("host", "127.0.0.1"), ("port", str(endpoints["unreachable"][0])), ("sni", "")}
    assert served[("cert_validity_probe_success", frozenset(unreachable))] == 0
    assert served[("cert_validity_state", frozenset(unreachable))] == 2
    expired_port = endpoints["expired"][0]
    assert [
        value
        for (name, labels), value in served.items()
        if name == "cert_validity_time_left_seconds" and ("port", str(expired_port)) in labels
    ] == [-1 * D]


def test_node_exporter_negative_control_unescaped_file_is_refused(
    endpoints: dict[str, tuple], node_exporter: NodeExporter, textfile_dir: str
) -> None:
    """Without the escaping, the hostile CN breaks the file: the collector refuses it."""
    port, extra, _ = endpoints["hostile"]
    text = metrics_run(port, *extra, "--output", "openmetrics")[1]
    write_atomically(textfile_dir, "hostile", text)
    assert series(node_exporter.scrape())[("node_textfile_scrape_error", frozenset())] == 0
    write_atomically(textfile_dir, "hostile", text.replace('\\"', '"'))
    served = series(node_exporter.scrape())
    assert served[("node_textfile_scrape_error", frozenset())] == 1
    assert not [name for (name, _labels) in served if name.startswith("cert_validity_")]


def readme_rules() -> str:
    readme = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")
    with open(readme, encoding="utf-8") as handle:
        return handle.read().split("```yaml\n", 1)[1].split("```", 1)[0]


CERT = '{host="db1",port="5433",sni="",position="0",cn="db1",serial="01"}'
LABELS = 'host: db1, port: "5433", position: "0", cn: db1, serial: "01"'  # sni="" is no label
RULE_TESTS = f"""
rule_files: [rules.yml]
evaluation_interval: 1h
tests:
  - interval: 1h
    input_series:
      - series: 'cert_validity_not_after_timestamp_seconds{CERT}'
        values: '{30 * D}x600'
      - series: 'cert_validity_expected_min_seconds{CERT}'
        values: '{20 * D}x600'
      - series: 'cert_validity_expected_max_seconds{CERT}'
        values: '{30 * D}x600'
      - series: 'cert_validity_critical_seconds{CERT}'
        values: '{10 * D}x600'
      - series: 'cert_validity_lifetime_seconds{CERT}'
        values: '{30 * D}x600'
    alert_rule_test:
      - {{eval_time: 9d, alertname: CertRotationMissed, exp_alerts: []}}
      - eval_time: 11d
        alertname: CertRotationMissed
        exp_alerts:
          - exp_labels: {{severity: ticket, {LABELS}}}
            exp_annotations: {{summary: "db1:5433 'db1' missed a rotation, 19d 0h 0m 0s left"}}
      - {{eval_time: 19d, alertname: CertReactionWindowHalfGone, exp_alerts: []}}
      - eval_time: 21d
        alertname: CertReactionWindowHalfGone
        exp_alerts:
          - exp_labels: {{severity: page, {LABELS}}}
            exp_annotations: {{summary: "db1:5433 'db1' has 9d 0h 0m 0s left"}}
      - {{eval_time: 21d, alertname: CertNotFromRotation, exp_alerts: []}}
"""


def test_readme_alert_rules_express_the_model(tmp_path: Path) -> None:
    """promtool checks the README's rules and runs them over series like the plugin's."""
    tool = promtool()
    (tmp_path / "rules.yml").write_text(readme_rules())
    (tmp_path / "tests.yml").write_text(RULE_TESTS)
    checked = subprocess.run(
        [tool, "check", "rules", "rules.yml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(
        [tool, "test", "rules", "tests.yml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    # Negative control: the same tests fail against a rule that ignores V-R.
    (tmp_path / "rules.yml").write_text(
        readme_rules().replace(
            "< cert_validity_expected_min_seconds", "< 0 * cert_validity_expected_min_seconds"
        )
    )
    broken = subprocess.run(
        [tool, "test", "rules", "tests.yml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert broken.returncode != 0
