"""Metrics output for --chain and --file, through the installed plugin."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families as parse_prometheus

from check_cert_validity.certfactory import Issued

from conftest import NOW_ARG, run_plugin


def series(text: str, name: str) -> dict[tuple[str, str], float]:
    """(position, cn) -> value for one metric family."""
    found = {}
    for family in parse_prometheus(text):
        for sample in family.samples:
            if sample.name == name:
                found[(sample.labels.get("position", ""), sample.labels.get("cn", ""))] = (
                    sample.value
                )
    return found


def test_chain_gives_one_series_per_element(
    serve: Callable, ca: Issued, leaf_factory: Callable
) -> None:
    intermediate = leaf_factory(age=302, lifetime=310, ca=True, common_name="Issuing CA 2")
    leaf = leaf_factory(age=1, lifetime=30, issuer=intermediate, common_name="svc.internal")
    server = serve([leaf, intermediate])
    args = ["-H", "127.0.0.1", "-p", str(server.port), "--now", NOW_ARG, "--output", "openmetrics"]
    with_chain = run_plugin(*args, "--chain")
    assert with_chain.code == 1  # the intermediate has 8d left, below V-R = 10d
    time_left = series(with_chain.stdout, "cert_validity_time_left_seconds")
    assert time_left == {("0", "svc.internal"): 29 * 86400.0, ("1", "Issuing CA 2"): 8 * 86400.0}
    expected_min = series(with_chain.stdout, "cert_validity_expected_min_seconds")
    assert expected_min == {
        ("0", "svc.internal"): 10 * 86400.0,
        ("1", "Issuing CA 2"): 10 * 86400.0,
    }
    # negative control: without --chain only the leaf is there, and it is OK
    leaf_only = run_plugin(*args)
    assert leaf_only.code == 0
    assert series(leaf_only.stdout, "cert_validity_time_left_seconds") == {
        ("0", "svc.internal"): 29 * 86400.0
    }


def test_file_check_as_metrics(tmp_path: Path, leaf_factory: Callable) -> None:
    path = tmp_path / "cert.pem"
    path.write_bytes(leaf_factory(age=5, lifetime=30, common_name="disk.internal").cert_pem())
    result = run_plugin("--file", str(path), "--now", NOW_ARG, "--output", "openmetrics")
    assert result.code == 0
    assert series(result.stdout, "cert_validity_time_left_seconds") == {
        ("0", "disk.internal"): 25 * 86400.0
    }
    assert f'cert_validity_probe_success{{host="{path}",port="0",sni=""}} 1' in result.stdout
    missing = run_plugin("--file", str(tmp_path / "gone.pem"), "--output", "openmetrics")
    assert missing.code == 2
    assert f'cert_validity_probe_success{{host="{tmp_path / "gone.pem"}",port="0",sni=""}} 0' in (
        missing.stdout
    )
