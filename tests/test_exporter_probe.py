"""The exporter's /probe: the plugin's own OpenMetrics text, served for a scraped target.

The installed console script runs as a subprocess; real TLS servers on
loopback serve certificates made relative to the real clock (the exporter
has no --now). Each answer is compared with what the installed plugin prints
with ``--output openmetrics`` for the same endpoint and options.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from exporter_run import ExporterProcess, run_exporter, series, value

from check_cert_validity.certfactory import Issued, issue

from conftest import free_port, has_ipv6_loopback, run_plugin

D = 86400
# Values that follow the clock: compared within this many seconds, not exactly.
CLOCK_SLACK = 30.0
MOVING = ("cert_validity_time_left_seconds", "cert_validity_age_seconds", "probe_duration")


@pytest.fixture(scope="module")
def fleet_ca() -> Issued:
    now = datetime.now(UTC)
    return issue(
        common_name="Exporter Test CA",
        ca=True,
        not_before=now - timedelta(days=400),
        not_after=now + timedelta(days=3000),
    )


def real_leaf(ca: Issued | None, age: float, lifetime: float, **kwargs: object) -> Issued:
    start = datetime.now(UTC) - timedelta(days=age)
    return issue(not_before=start, not_after=start + timedelta(days=lifetime), issuer=ca, **kwargs)  # type: ignore[arg-type]


def assert_same_series(exported: str, plugin: str) -> None:
    """Same families, series and order; equal values except those that follow the clock."""
    assert exported.endswith("# EOF\n") and plugin.endswith("# EOF\n")
    ours = [(k, v) for k, v in series(exported) if not k.startswith("probe_duration_seconds")]
    theirs = series(plugin)
    assert [k for k, _ in ours] == [k for k, _ in theirs]
    for (key, mine), (_, reference) in zip(ours, theirs, strict=True):
        if key.startswith(MOVING):
            assert abs(float(mine) - float(reference)) < CLOCK_SLACK, key
        else:
            assert mine == reference, key
    comments = [line for line in exported.splitlines() if line.startswith("#")]
    expected = [line for line in plugin.splitlines() if line.startswith("#")]
    assert comments == [*expected[:-1], *comments[-4:-1], "# EOF"]
    assert comments[-4:-1] == [
        "# HELP probe_duration_seconds How long the probe took: resolving, connecting, "
        "the handshake.",
        "# TYPE probe_duration_seconds gauge",
        "# UNIT probe_duration_seconds seconds",
    ]


MODULES = """
modules:
  internal_30d: {validity: 30d, rotation: 10d, timeout: 5s}
  chain: {chain: true, validity: 30, rotation: 10}
  ranges: {warning: "20:", critical: "10:", rotation: 15d}
  lenient: {unreachable_state: warning, timeout: 2}
"""


@pytest.mark.parametrize(
    ("module", "options"),
    [
        ("default", []),
        ("internal_30d", ["--validity", "30d", "--rotation", "10d", "-t", "5"]),
        ("chain", ["--chain", "--validity", "30", "--rotation", "10"]),
        ("ranges", ["-w", "20:", "-c", "10:", "--rotation", "15d"]),
    ],
)
def test_probe_is_what_the_plugin_prints(
    start: Callable[..., ExporterProcess],
    serve: Callable,
    fleet_ca: Issued,
    module: str,
    options: list[str],
) -> None:
    server = serve([real_leaf(fleet_ca, age=22, lifetime=30, common_name="svc.internal"), fleet_ca])
    exporter = start(MODULES)
    answer = exporter.probe(f"127.0.0.1:{server.port}", module)
    plugin = run_plugin(
        "-H", "127.0.0.1", "-p", str(server.port), "--output", "openmetrics", *options
    )
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert_same_series(answer.body, plugin.stdout)
    assert 'issuer="Exporter Test CA"' in answer.body
    assert 0 < value(answer.body, "probe_duration_seconds") < 5


def test_openmetrics_content_type_when_prometheus_asks_for_it(
    start: Callable[..., ExporterProcess], serve: Callable, fleet_ca: Issued
) -> None:
    server = serve([real_leaf(fleet_ca, age=1, lifetime=30)])
    exporter = start()
    accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
    answer = exporter.get(f"/probe?target=127.0.0.1:{server.port}", {"Accept": accept})
    assert answer.headers["Content-Type"] == (
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    )
    # without a module the default one judges the leaf by its own lifetime
    assert value(answer.body, "cert_validity_state") == 0


def test_unreadable_endpoint_is_probe_success_0_not_an_http_error(
    start: Callable[..., ExporterProcess], serve: Callable, fleet_ca: Issued
) -> None:
    exporter = start(MODULES)
    closed = free_port()
    answer = exporter.probe(f"127.0.0.1:{closed}")
    plugin = run_plugin("-H", "127.0.0.1", "-p", str(closed), "--output", "openmetrics")
    assert answer.status == 200
    assert_same_series(answer.body, plugin.stdout)
    assert value(answer.body, "cert_validity_probe_success") == 0
    assert value(answer.body, "cert_validity_state") == 2  # CRITICAL, as in the plugin
    # the module's unreachable_state, as --unreachable-state
    lenient = exporter.probe(f"127.0.0.1:{closed}", "lenient")
    assert value(lenient.body, "cert_validity_state") == 1
    # negative control: a served certificate is a success
    good = serve([real_leaf(fleet_ca, age=1, lifetime=30)])
    assert value(exporter.probe(f"127.0.0.1:{good.port}").body, "cert_validity_probe_success") == 1


def test_expired_and_self_signed_endpoints_keep_their_series(
    start: Callable[..., ExporterProcess], serve: Callable
) -> None:
    expired = serve([real_leaf(None, age=40, lifetime=30, common_name="old.internal")])
    exporter = start()
    body = exporter.probe(f"127.0.0.1:{expired.port}").body
    assert value(body, "cert_validity_probe_success") == 1
    assert value(body, "cert_validity_state") == 2
    assert -10 * D - CLOCK_SLACK < value(body, "cert_validity_time_left_seconds") < -10 * D + 1
    assert 'issuer="old.internal"' in body  # self-signed: its own CN


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_ipv6_target_in_brackets(
    start: Callable[..., ExporterProcess], serve: Callable, fleet_ca: Issued
) -> None:
    server = serve([real_leaf(fleet_ca, age=1, lifetime=30)], host="::1")
    exporter = start()
    answer = exporter.probe(f"[::1]:{server.port}")
    plugin = run_plugin("-H", "::1", "-p", str(server.port), "--output", "openmetrics")
    assert_same_series(answer.body, plugin.stdout)
    assert f'host="::1",port="{server.port}"' in answer.body


def test_allowed_targets_are_checked_after_resolution(
    start: Callable[..., ExporterProcess], serve: Callable, fleet_ca: Issued
) -> None:
    server = serve([real_leaf(fleet_ca, age=1, lifetime=30)])
    loopback_only = start('allowed_targets: ["127.0.0.0/8"]\n')
    # a name is let through by the address it resolves to
    assert loopback_only.probe(f"localhost:{server.port}").status == 200
    assert loopback_only.probe(f"127.0.0.1:{server.port}").status == 200
    names_only = start('allowed_targets: ["10.0.0.0/8", "*.internal"]\n')
    refused = names_only.probe(f"localhost:{server.port}")
    assert refused.status == 403
    # the addresses the name resolved to, in the resolver's order (::1 too where
    # /etc/hosts names it localhost, as Debian 13's does)
    found = socket.getaddrinfo("localhost", server.port, type=socket.SOCK_STREAM)
    shown = ", ".join(dict.fromkeys(str(info[4][0]) for info in found))
    assert refused.body == f"target localhost:{server.port} ({shown}) is outside allowed_targets\n"
    assert names_only.probe(f"127.0.0.1:{server.port}").status == 403
    # a port rule permits that port only
    by_port = start(f'allowed_targets: ["127.0.0.1:{server.port}", "localhost:1"]\n')
    assert by_port.probe(f"127.0.0.1:{server.port}").status == 200
    assert by_port.probe(f"127.0.0.1:{server.port + 1}").status == 403
    # a name pattern permits the name as given, whatever it resolves to
    assert by_port.probe("localhost:1").status == 200


def test_probe_deadline_is_capped_by_the_scrape_timeout(
    start: Callable[..., ExporterProcess], raw_server: Callable
) -> None:
    hung = raw_server(lambda srv, conn: srv.wait(30))
    exporter = start("modules: {slow: {timeout: 20}}\n")
    began = time.monotonic()
    answer = exporter.get(
        f"/probe?target=127.0.0.1:{hung.port}&module=slow&debug=true",
        {"X-Prometheus-Scrape-Timeout-Seconds": "2"},
    )
    took = time.monotonic() - began
    assert 1.4 < took < 1.9  # 2 s minus the half-second margin
    assert "timed out after 1.5s during the TLS handshake" in answer.body
    # negative control: without the header the module's timeout holds (cut short here)
    quick = start("modules: {slow: {timeout: 1}}\n")
    began = time.monotonic()
    quick.get(f"/probe?target=127.0.0.1:{hung.port}&module=slow")
    assert 0.9 < time.monotonic() - began < 1.4


def test_debug_shows_the_probe_log_and_the_plugins_long_output(
    start: Callable[..., ExporterProcess], serve: Callable, fleet_ca: Issued
) -> None:
    server = serve([real_leaf(fleet_ca, age=1, lifetime=30, common_name="svc.internal"), fleet_ca])
    exporter = start()
    body = exporter.probe(f"127.0.0.1:{server.port}", debug="true").body
    assert body.startswith("Logs for the probe:\n")
    assert f"connected to 127.0.0.1:{server.port}" in body
    assert "CERT_VALIDITY OK - 127.0.0.1:" in body
    assert "issuer: CN=Exporter Test CA" in body and "SHA-256: " in body
    assert "timings (cumulative): resolve" in body
    assert body.rstrip().endswith("# EOF")


CONFIG_ERRORS = [
    ("modules:\n  m: {validity: 30d, rotaton: 10d}\n", "c.yml:2: module 'm': rotaton: unknown key"),
    (
        "modules:\n  m:\n    validity: 30d\n    rotation: soon\n",
        "c.yml:4: module 'm': rotation: invalid duration",
    ),
    (
        "modules:\n  m: {validity: 10d, rotation: 30d}\n",
        "c.yml:2: module 'm': rotation: --rotation 30.0d must be shorter than --validity 10.0d",
    ),
    (
        "modules:\n  m: {crl_validity: 7d, crl_rotation: 7d}\n",
        "c.yml:2: module 'm': crl_rotation: crl_rotation 7.0d must be shorter than crl_validity",
    ),
    (
        "modules:\n  m: {starttls: gopher}\n",
        "c.yml:2: module 'm': starttls: 'gopher' is not one of smtp",
    ),
    ("modules:\n  m: {chain: yes please}\n", "c.yml:2: module 'm': chain: must be true or false"),
    (
        "modules:\n  m: {ip_protocol: ipv5}\n",
        "c.yml:2: module 'm': ip_protocol: must be ipv4 or ipv6",
    ),
    ("modules:\n  m: {timeout: 0s}\n", "c.yml:2: module 'm': timeout: invalid timeout '0'"),
    ("modules:\n  m: {client_key: /k.pem}\n", "c.yml:2: module 'm': client_key: needs client_cert"),
    ("modules: [a]\n", "c.yml:1: modules must be a mapping"),
    ("moduls: {}\n", "c.yml:1: unknown key 'moduls'"),
    ("modules: {m: {validity: 30d}\n", "c.yml:2: not valid YAML"),
    (
        "allowed_targets: ['10.0.0.0/8', 'a b']\n",
        "c.yml:1: allowed_targets: 'a b': neither an IP network",
    ),
    ("statsd: {interval: 60}\n", "c.yml:1: statsd: interval: '60' needs its unit"),
]


@pytest.mark.parametrize(("text", "message"), CONFIG_ERRORS)
def test_bad_config_at_start_is_one_line_naming_module_key_and_line(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "c.yml"
    path.write_text(text)
    done = run_exporter("--config.file", str(path), "--web.listen-address", "127.0.0.1:0")
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"check_cert_validity_exporter: error: {tmp_path}/{message}")


def test_good_config_of_every_key_starts(start: Callable[..., ExporterProcess]) -> None:
    # negative control for the table above: every key, well written, is accepted
    exporter = start(
        "modules:\n"
        "  all: {validity: 30d, rotation: 10d, warning: '10:', critical: '5:', starttls: smtp,\n"
        "        sni: mail.internal, ip_protocol: ipv4, timeout: 5s, chain: true,\n"
        "        unreachable_state: unknown}\n"
        "  nosni: {no_sni: true, ip_protocol: ipv6}\n"
    )
    page = exporter.get("/").body
    assert "sni: mail.internal" in page and "no_sni: True" in page


def test_help_and_version_exit_0() -> None:
    helped = run_exporter("--help")
    assert helped.returncode == 0
    for flag in ("--config.file", "--web.listen-address", "--log.level", "--probe.max-in-flight"):
        assert flag in helped.stdout
    version = run_exporter("--version")
    assert version.returncode == 0
    assert version.stdout.startswith("check_cert_validity_exporter ")
    import subprocess
    import sys

    as_module = subprocess.run(
        [sys.executable, "-m", "check_cert_validity.exporter", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert as_module.returncode == 0 and as_module.stdout == version.stdout
