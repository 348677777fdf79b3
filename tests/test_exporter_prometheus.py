"""The shipped contrib/prometheus files with the real Prometheus from Debian.

``promtool test rules`` runs the shipped rule tests (and fails on a rule
that counts an endpoint twice); a real ``prometheus`` server on loopback,
with the shipped scrape config and rules at one-second intervals, scrapes
the installed exporter, and the test reads series and alerts back through
Prometheus' HTTP API. The same with two exporters split by ``hashmod``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from exporter_run import ExporterProcess

from check_cert_validity.certfactory import Issued, issue

from conftest import ROOT, free_port, stop_process

pytestmark = pytest.mark.integration

CONTRIB = Path(ROOT) / "contrib" / "prometheus"
MODULES = "modules: {internal_30d: {validity: 30d, rotation: 10d}}\n"


def tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        pytest.skip(f"{name} not installed (Debian package prometheus)")
    return found


def test_shipped_rules_pass_their_promtool_tests(tmp_path: Path) -> None:
    promtool = tool("promtool")
    checked = subprocess.run(
        [promtool, "check", "rules", str(CONTRIB / "cert_validity.rules.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(
        [promtool, "test", "rules", "cert_validity.rules.test.yml"],
        cwd=CONTRIB,
        capture_output=True,
        text=True,
        check=False,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    # negative control: a fleet rule that counts each job's copy of an endpoint fails them
    rules = (CONTRIB / "cert_validity.rules.yml").read_text()
    doubled = rules.replace(
        "max by (host, port, sni, issuer)", "max by (job, host, port, sni, issuer)"
    )
    assert doubled != rules
    (tmp_path / "cert_validity.rules.yml").write_text(doubled)
    shutil.copy(CONTRIB / "cert_validity.rules.test.yml", tmp_path)
    broken = subprocess.run(
        [promtool, "test", "rules", "cert_validity.rules.test.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert broken.returncode != 0
    assert "CertValidityRotationSystemFailing" in broken.stdout + broken.stderr


class Prometheus:
    def __init__(self, directory: Path, config: dict[str, Any]) -> None:
        binary = tool("prometheus")
        shutil.copy(CONTRIB / "cert_validity.rules.yml", directory)
        path = directory / "prometheus.yml"
        path.write_text(yaml.safe_dump(config))
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                binary,
                f"--config.file={path}",
                f"--storage.tsdb.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.wait_for(lambda: self._ready(), 30, "Prometheus did not become ready")

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2):
                return True
        except OSError:
            return False

    def api(self, path: str, **query: str) -> Any:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?{urllib.parse.urlencode(query)}"
        with urllib.request.urlopen(url, timeout=10) as answer:
            return json.load(answer)["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        return self.api("query", query=expr)["result"]  # type: ignore[no-any-return]

    def alerts(self, state: str = "firing") -> list[dict[str, str]]:
        return [
            {**alert["labels"]} for alert in self.api("alerts")["alerts"] if alert["state"] == state
        ]

    @staticmethod
    def wait_for(check: Callable[[], bool], seconds: float, message: str) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.25)
        raise AssertionError(message)

    def stop(self) -> None:
        stop_process(self.proc)


def shipped(name: str, exporters: list[str], targets: list[str]) -> dict[str, Any]:
    """The shipped scrape config at one-second intervals, pointed at these exporters."""
    config = yaml.safe_load((CONTRIB / name).read_text())
    config["global"] = {
        "scrape_interval": "1s",
        "evaluation_interval": "1s",
        "scrape_timeout": "1s",
    }
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "cert_validity")
    job["scrape_timeout"] = "1s"
    del job["file_sd_configs"]
    job["static_configs"] = [{"targets": targets, "labels": {"__param_module": "internal_30d"}}]
    replaced = 0
    for rule in job["relabel_configs"]:
        if rule.get("target_label") == "__address__":
            rule["replacement"] = exporters[replaced]
            replaced += 1
    assert replaced == len(exporters)
    config["scrape_configs"] = [job]
    return config


def leaf(ca: Issued, age: float) -> Issued:
    start = datetime.now(UTC) - timedelta(days=age)
    return issue(not_before=start, not_after=start + timedelta(days=30), issuer=ca)


def test_real_prometheus_scrapes_series_and_fires_the_right_alerts(
    tmp_path: Path, start: Callable[..., ExporterProcess], serve: Callable
) -> None:
    now = datetime.now(UTC)
    cas = {
        name: issue(
            common_name=name,
            ca=True,
            not_before=now - timedelta(days=100),
            not_after=now + timedelta(days=900),
        )
        for name in ("Fleet CA A", "Fleet CA B")
    }
    # V=30d R=10d: 15 days old has 15d left, below V-R=20d: a missed rotation
    ages = {"Fleet CA A": [15, 15, 15, 2], "Fleet CA B": [15, 2, 2, 2]}
    servers = {
        (name, i): serve([leaf(cas[name], age)])
        for name in ages
        for i, age in enumerate(ages[name])
    }
    overdue = {
        f"127.0.0.1:{servers[(name, i)].port}"
        for name in ages
        for i, age in enumerate(ages[name])
        if age == 15
    }
    unreachable = f"127.0.0.1:{free_port()}"
    targets = [f"127.0.0.1:{server.port}" for server in servers.values()] + [unreachable]
    exporter = start(MODULES)
    prometheus = Prometheus(tmp_path, shipped("prometheus.yml", [exporter.address], targets))
    try:
        prometheus.wait_for(
            lambda: len(prometheus.query("cert_validity_probe_success")) == 9,
            30,
            "Prometheus did not scrape all 9 targets",
        )
        prometheus.wait_for(
            lambda: (
                {a["alertname"] for a in prometheus.alerts()}
                >= {"CertValidityRotationMissed", "CertValidityRotationSystemFailing"}
            ),
            30,
            "the alerts did not fire",
        )
        time.sleep(3)  # a few more evaluations: nothing else may start firing
        firing = prometheus.alerts()
        missed = {a["instance"] for a in firing if a["alertname"] == "CertValidityRotationMissed"}
        assert missed == overdue  # the overdue endpoints only, of both CAs
        fleet = [a for a in firing if a["alertname"] == "CertValidityRotationSystemFailing"]
        assert [(a["issuer"], a["severity"]) for a in fleet] == [("Fleet CA A", "page")]
        # 15d left is above (V-R)/2 = 10d: nothing pages for a single endpoint
        assert {a["alertname"] for a in firing} == {
            "CertValidityRotationMissed",
            "CertValidityRotationSystemFailing",
        }
        pending = prometheus.alerts("pending")
        assert [(a["alertname"], a["instance"]) for a in pending] == [
            ("CertValidityEndpointUnreadable", unreachable)
        ]
        success = {
            r["metric"]["instance"]: r["value"][1]
            for r in prometheus.query("cert_validity_probe_success")
        }
        assert success == {**{t: "1" for t in targets[:-1]}, unreachable: "0"}
        # no other series lost: every readable endpoint has all 7 per-certificate families
        per_cert = prometheus.query(
            'count by (instance) ({__name__=~"cert_validity_.*",position="0"})'
        )
        assert {r["metric"]["instance"]: r["value"][1] for r in per_cert} == {
            t: "7" for t in targets[:-1]
        }
        states = prometheus.query(f'cert_validity_state{{instance="{unreachable}"}}')
        assert [r["value"][1] for r in states] == ["2"]
    finally:
        prometheus.stop()


def test_hashmod_sharding_probes_every_target_on_exactly_one_exporter(
    tmp_path: Path, start: Callable[..., ExporterProcess], serve: Callable
) -> None:
    ca = issue(
        common_name="Shard CA",
        ca=True,
        not_before=datetime.now(UTC) - timedelta(days=10),
        not_after=datetime.now(UTC) + timedelta(days=900),
    )
    servers = [serve([leaf(ca, 2)]) for _ in range(12)]  # all on one shard: p = 2**-11
    targets = [f"127.0.0.1:{server.port}" for server in servers]
    shards = [start(MODULES), start(MODULES)]
    config = shipped("prometheus-sharded.yml", [s.address for s in shards], targets)
    prometheus = Prometheus(tmp_path, config)
    try:
        prometheus.wait_for(
            lambda: len(prometheus.query("cert_validity_probe_success == 1")) == 12,
            30,
            "not every target was scraped",
        )
        time.sleep(2)
        seen = []
        for shard in shards:
            page = shard.get("/").body
            seen.append({t for t in targets if f"<td>{t}</td>" in page})
        assert seen[0] | seen[1] == set(targets)
        assert not seen[0] & seen[1]  # no target probed by both
        assert seen[0] and seen[1]  # and both exporters got a share
        # one series per target, whichever exporter answered
        assert len(prometheus.query("cert_validity_time_left_seconds")) == 12
    finally:
        prometheus.stop()
