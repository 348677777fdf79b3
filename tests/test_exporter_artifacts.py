"""The exporter's ``file`` prober: certificates and CRLs on the exporter's own disk.

The installed exporter runs as a subprocess; each answer is compared with
what the installed plugin prints with ``--file PATH --output openmetrics``
and the same options. The CRLs are published by a real ``openssl ca``. Files
are read only where a path pattern of ``allowed_targets`` permits, the path
as given and the file it really is.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from crlca import OpenSslCa
from exporter_run import ExporterProcess, run_exporter, value
from test_exporter_probe import assert_same_series

from check_cert_validity.certfactory import issue

from conftest import run_plugin

HOUR = timedelta(hours=1)


def config(directory: Path) -> str:
    return f"""
modules:
  files: {{prober: file, validity: 7d, rotation: 1d}}
  bundles: {{prober: file, chain: true}}
allowed_targets: ["127.0.0.0/8", "{directory}/pki/*"]
"""


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    folder = tmp_path / "pki"
    folder.mkdir()
    ca = OpenSslCa(tmp_path / "ca")
    now = datetime.now(UTC)
    # published two days ago although the CA publishes daily: a publication was missed
    (folder / "ca.crl").write_bytes(ca.gencrl(now - 2 * 24 * HOUR, now + 5 * 24 * HOUR))
    leaf = issue(not_before=now - 24 * HOUR, not_after=now + 29 * 24 * HOUR, issuer=ca.ca)
    (folder / "bundle.pem").write_bytes(
        leaf.cert_pem() + ca.gencrl(now - HOUR, now + 6 * 24 * HOUR)
    )
    return folder


def test_a_crl_file_is_what_the_plugin_prints(
    start: Callable[..., ExporterProcess], pki: Path, tmp_path: Path
) -> None:
    exporter = start(config(tmp_path))
    path = str(pki / "ca.crl")
    answer = exporter.probe(path, "files")
    plugin = run_plugin(
        "--file", path, "--validity", "7d", "--rotation", "1d", "--output", "openmetrics"
    )
    assert answer.status == 200, answer.body
    assert_same_series(answer.body, plugin.stdout)
    assert f'host="{path}",port="0",sni="",kind="crl",position="0"' in answer.body
    assert value(answer.body, "cert_validity_state") == 1  # the missed publication


def test_a_bundle_with_a_crl_beside_its_certificate(
    start: Callable[..., ExporterProcess], pki: Path, tmp_path: Path
) -> None:
    exporter = start(config(tmp_path))
    path = str(pki / "bundle.pem")
    answer = exporter.probe(path, "bundles")
    plugin = run_plugin("--file", path, "--chain", "--output", "openmetrics")
    assert answer.status == 200
    assert_same_series(answer.body, plugin.stdout)
    assert 'kind="certificate",position="0"' in answer.body
    assert 'kind="crl",position="0"' in answer.body


def test_a_missing_file_keeps_its_series(
    start: Callable[..., ExporterProcess], pki: Path, tmp_path: Path
) -> None:
    exporter = start(config(tmp_path))
    answer = exporter.probe(str(pki / "gone.crl"), "files")
    assert answer.status == 200
    assert value(answer.body, "cert_validity_probe_success") == 0
    assert value(answer.body, "cert_validity_state") == 2


def test_files_outside_the_path_patterns_are_never_read(
    start: Callable[..., ExporterProcess], pki: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "secret.pem"
    outside.write_text("not for scrapers")
    (pki / "link.pem").symlink_to(outside)
    exporter = start(config(tmp_path))
    for target in (str(outside), str(pki / "link.pem"), f"{pki}/../secret.pem", "/etc/shadow"):
        answer = exporter.probe(target, "files")
        assert answer.status == 403, target
        assert "outside allowed_targets" in answer.body and "\n" not in answer.body.rstrip("\n")
    relative = exporter.probe("pki/ca.crl", "files")
    assert (relative.status, relative.body.strip()) == (
        400,
        "a file module's target is an absolute path (/etc/ssl/...)",
    )
    # negative control: the same exporter reads a permitted one
    assert exporter.probe(str(pki / "ca.crl"), "files").status == 200


def test_without_path_patterns_no_file_is_read(
    start: Callable[..., ExporterProcess], pki: Path
) -> None:
    exporter = start("modules:\n  files: {prober: file}\n")
    answer = exporter.probe(str(pki / "ca.crl"), "files")
    assert answer.status == 403


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("modules:\n  m: {prober: gopher}\n", "c.yml:2: module 'm': prober: must be one of tls"),
        (
            "modules:\n  m: {prober: file, starttls: smtp}\n",
            "c.yml:2: module 'm': starttls: applies to a TLS endpoint, not to a file prober",
        ),
    ],
)
def test_prober_config_errors(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "c.yml"
    path.write_text(text)
    run = run_exporter("--config.file", str(path))
    assert run.returncode != 0
    assert error in run.stderr.replace(str(tmp_path) + "/", "")


def test_the_statsd_loop_takes_a_file_modules_paths_whole() -> None:
    # a path with a colon is no HOST:PORT for a file module
    from check_cert_validity.exporter import config

    loaded = config.parse(
        "modules:\n  files: {prober: file}\n"
        "statsd:\n  targets: [{target: '/etc/ssl/ca:1.crl', module: files}]\n",
        "c.yml",
    )
    assert loaded.statsd is not None
    (target,) = loaded.statsd.targets
    assert (target.host, target.port, target.module) == ("/etc/ssl/ca:1.crl", None, "files")
