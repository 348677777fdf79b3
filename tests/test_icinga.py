"""A real Icinga 2 runs the shipped CheckCommand and the README's rules.

The daemon runs on loopback from its own temp config/state/run dirs (no API,
no listening port); results are read from its PerfdataWriter files. As root it
drops to the nagios user, as in production, and runs the plugin from the
world-readable install made by the ``installed`` fixture.
"""

from __future__ import annotations

import functools
import os
import pwd
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import (
    NOW_ARG,
    ROOT,
    Installed,
    cannot_run_as,
    daemon_user,
    free_port,
    readable_tempdir,
    stop_process,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not shutil.which("icinga2"), reason="icinga2 is not installed (Debian package icinga2)"
    ),
]

COMMAND = Path(ROOT, "contrib/icinga/check_cert_validity.conf")
README = Path(ROOT, "README.md")
DIRS = ("data", "log", "cache", "spool", "run", "zones.d", "perfdata")
# one line per check result; \\t is Icinga's escape for a tab
ICINGA_TEMPLATE = (
    "SERVICE::$service.name$\\tSTATE::$service.state$"
    "\\tOUTPUT::$service.output$\\tPERF::$service.perfdata$"
)


def readme_blocks() -> list[str]:
    """The README's ```icinga code blocks, in order."""
    return re.findall(r"^```icinga\n(.*?)^```$", README.read_text(encoding="utf-8"), re.M | re.S)


def readme_block(marker: str) -> str:
    found = [block for block in readme_blocks() if marker in block]
    assert len(found) == 1, f"the README should have one icinga block with {marker!r}"
    return found[0]


@functools.cache
def daemon_options() -> str:
    """What ``icinga2 daemon --help`` offers (the options differ between releases)."""
    shown = subprocess.run(["icinga2", "daemon", "--help"], capture_output=True, text=True)
    return shown.stdout + shown.stderr


class Icinga:
    """One Icinga 2 daemon with its own directories under a temp dir."""

    def __init__(self, top: str) -> None:
        self.top = top
        self.user, self.group = daemon_user()
        for name in DIRS:
            path = os.path.join(top, name)
            os.mkdir(path)
            if os.geteuid() == 0:
                entry = pwd.getpwnam(self.user)
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self.defines = [
            f"-DConfiguration.DataDir={top}/data",
            f"-DConfiguration.LogDir={top}/log",
            f"-DConfiguration.CacheDir={top}/cache",
            f"-DConfiguration.SpoolDir={top}/spool",
            f"-DConfiguration.InitRunDir={top}/run",
            f"-DConfiguration.ZonesDir={top}/zones.d",
            f"-DConfiguration.RunAsUser={self.user}",
            f"-DConfiguration.RunAsGroup={self.group}",
        ]
        self.config = os.path.join(top, "icinga2.conf")
        self.proc: subprocess.Popen[bytes] | None = None
        self.out = os.path.join(top, "daemon.out")

    def write(self, plugin_dir: str, body: str) -> None:
        shutil.copy(COMMAND, os.path.join(self.top, "cert_validity.conf"))
        head = f"""
const PluginDir = "/usr/lib/nagios/plugins"
const PluginContribDir = "{plugin_dir}"
const NodeName = "icinga-test"
const ZoneName = "icinga-test"
include <itl>
include <plugins>
include "{self.top}/cert_validity.conf"
object IcingaApplication "app" {{ }}
object Endpoint NodeName {{ }}
object Zone ZoneName {{ endpoints = [ NodeName ] }}
"""
        Path(self.config).write_text(head + body, encoding="utf-8")

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["icinga2", *args, *self.defines], capture_output=True, text=True, timeout=120
        )

    def validate(self) -> subprocess.CompletedProcess[str]:
        # `icinga2 object list` reads the objects file that validation writes:
        # 2.13 always writes it, 2.14 only with --dump-objects (unknown to 2.13)
        dump = ["--dump-objects"] if "--dump-objects" in daemon_options() else []
        return self.run("daemon", "-C", *dump, "-c", self.config)

    def start(self) -> None:
        with open(self.out, "wb") as out:
            self.proc = subprocess.Popen(
                ["icinga2", "daemon", "-c", self.config, *self.defines],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its workers share our process group id: killpg
            )
        deadline = time.monotonic() + 60
        while "Activated all objects" not in self.log():
            assert self.proc.poll() is None, f"icinga2 exited:\n{self.log()}"
            assert time.monotonic() < deadline, f"icinga2 did not start:\n{self.log()}"
            time.sleep(0.1)

    def log(self) -> str:
        return Path(self.out).read_text(encoding="utf-8", errors="replace")

    def results(self) -> dict[str, dict[str, str]]:
        """The latest record per service the PerfdataWriter wrote (rotated files too)."""
        latest: dict[str, dict[str, str]] = {}
        folder = os.path.join(self.top, "perfdata")
        for name in sorted(os.listdir(folder)):
            if not name.startswith("service-perfdata"):
                continue
            for line in Path(folder, name).read_text(encoding="utf-8").splitlines():
                fields = dict(part.split("::", 1) for part in line.split("\t") if "::" in part)
                if "SERVICE" in fields:
                    latest[fields["SERVICE"]] = fields
        return latest

    def wait_for(self, services: set[str], timeout: float = 60) -> dict[str, dict[str, str]]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.results()
            if services <= set(found):
                return found
            assert time.monotonic() < deadline, f"no results for {services - set(found)}"
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is None:
            return
        # The worker obeys only its umbrella process: signal that, then make sure.
        stop_process(self.proc, 30, group=True)


@pytest.fixture
def icinga() -> Iterator[Icinga]:
    top = readable_tempdir("ccv-icinga-")
    daemon = Icinga(top)
    try:
        yield daemon
    finally:
        daemon.stop()
        shutil.rmtree(top, ignore_errors=True)


def test_readme_snippets_validate_with_the_command(icinga: Icinga) -> None:
    agent = """
object Endpoint "agent1.internal" { }
object Zone "agent1.internal" { endpoints = [ "agent1.internal" ]; parent = ZoneName }
object Host "agent1.internal" {
  zone = ZoneName
  check_command = "dummy"
  address = "192.0.2.20"
  vars.agent_endpoint = name
  vars.cert_files["postgres"] = "/etc/postgresql/server.crt"
  vars.kafka_keystore = "/etc/kafka/ssl/kafka.server.keystore.p12"
}
"""
    icinga.write("/usr/lib/nagios/plugins", "\n".join(readme_blocks()) + agent)
    result = icinga.validate()
    assert result.returncode == 0, result.stdout + result.stderr
    # web1: https and postgres; agent1: one file check and one keystore check
    assert "Instantiated 4 Services." in result.stdout
    listed = icinga.run("object", "list", "--type", "CheckCommand", "--name", "cert_validity")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert '* __name = "cert_validity"' in listed.stdout
    assert '* value = "$cert_validity_address$"' in listed.stdout
    assert '* set_if = "$cert_validity_no_sni$"' in listed.stdout
    # a service from the README's apply rule got the host's endpoint variables
    service = icinga.run(
        "object", "list", "--type", "Service", "--name", "web1.internal!cert-postgres"
    )
    assert 'cert_validity_validity = "24h"' in service.stdout
    keystore = icinga.run(
        "object", "list", "--type", "Service", "--name", "agent1.internal!kafka-keystore"
    )
    assert 'cert_validity_file_password_file = "/etc/nagios/kafka-keystore.pass"' in keystore.stdout


def test_validation_fails_without_the_template_it_imports(icinga: Icinga) -> None:
    # negative control: the file really is parsed, and really imports ipv4-or-ipv6
    icinga.write("/usr/lib/nagios/plugins", "")
    text = Path(icinga.config).read_text(encoding="utf-8").replace("include <plugins>\n", "")
    Path(icinga.config).write_text(text, encoding="utf-8")
    result = icinga.validate()
    assert result.returncode != 0
    assert "ipv4-or-ipv6" in result.stdout


def test_icinga_runs_the_checks_and_records_state_and_perfdata(
    icinga: Icinga, installed: Installed, serve: Callable, leaf_factory: Callable
) -> None:
    reason = cannot_run_as(icinga.user, installed.plugin)
    if reason:  # Icinga would only record that it cannot execute the plugin
        pytest.skip(reason)
    ok = serve([leaf_factory(age=5, lifetime=30, common_name="svc.internal")])
    warning = serve([leaf_factory(age=15.8, lifetime=30, common_name="db1.internal")])
    critical = serve([leaf_factory(age=6, lifetime=7, common_name="short.internal")])
    closed = free_port()
    rule = readme_block('apply Service "cert-" for')
    # the README checks hourly; here every second (asserted, so the rule cannot drift)
    assert rule.count("check_interval = 1h") == rule.count("retry_interval = 15m") == 1
    rule = rule.replace("check_interval = 1h", "check_interval = 1s")
    rule = rule.replace("retry_interval = 15m", "retry_interval = 1s")
    now = f'cert_validity_now = "{NOW_ARG}"'
    body = f"""
object CheckerComponent "checker" {{ }}
object PerfdataWriter "perfdata" {{
  host_perfdata_path = "{icinga.top}/perfdata/host-perfdata"
  service_perfdata_path = "{icinga.top}/perfdata/service-perfdata"
  host_temp_path = "{icinga.top}/perfdata/host-tmp"
  service_temp_path = "{icinga.top}/perfdata/service-tmp"
  service_format_template = "{ICINGA_TEMPLATE}"
  rotation_interval = 1s
}}
{rule}
object Host "loopback" {{
  address = "127.0.0.1"
  check_command = "dummy"
  check_interval = 1m
  vars.tls_endpoints["ok"] = {{ cert_validity_port = {ok.port}, {now} }}
  vars.tls_endpoints["warning"] = {{
    cert_validity_port = {warning.port}, {now}
    cert_validity_validity = "30d", cert_validity_rotation = "10d"
  }}
  vars.tls_endpoints["critical"] = {{
    cert_validity_port = {critical.port}, {now}
    cert_validity_validity = "7d", cert_validity_rotation = "2d"
  }}
  vars.tls_endpoints["closed"] = {{ cert_validity_port = {closed} }}
  vars.tls_endpoints["ipv6-only"] = {{ cert_validity_port = {ok.port}, cert_validity_ipv6 = true }}
  vars.tls_endpoints["no-address"] = {{ cert_validity_address = false }}
  vars.tls_endpoints["empty-address"] = {{ cert_validity_address = "" }}
}}
"""
    icinga.write(os.path.dirname(installed.plugin), body)
    validated = icinga.validate()
    assert validated.returncode == 0, validated.stdout
    icinga.start()
    names = {"ok", "warning", "critical", "closed", "ipv6-only", "no-address", "empty-address"}
    got = icinga.wait_for({f"cert-{name}" for name in names})
    icinga.stop()
    # Icinga 2.13 keeps the blank before the "|" in the output it records
    record = {
        name: {**got[f"cert-{name}"], "OUTPUT": got[f"cert-{name}"]["OUTPUT"].rstrip(" ")}
        for name in names
    }
    assert record["ok"] == {
        "SERVICE": "cert-ok",
        "STATE": "OK",
        "OUTPUT": f"CERT_VALIDITY OK - 127.0.0.1:{ok.port} certificate 'svc.internal' has "
        "25.0d left (expires 2026-12-25 12:00 UTC)",
        "PERF": "time_left=2160000s;864000:;432000:;;2592000",
    }
    assert record["warning"]["STATE"] == "WARNING"
    assert record["warning"]["OUTPUT"] == (
        f"CERT_VALIDITY WARNING - 127.0.0.1:{warning.port} certificate 'db1.internal' has "
        "14.2d left, rotation overdue by 5.8d (expires 2026-12-14 16:48 UTC)"
    )
    assert record["warning"]["PERF"] == "time_left=1226880s;1728000:2592000;864000:;;2592000"
    assert record["critical"]["STATE"] == "CRITICAL"
    assert record["critical"]["PERF"] == "time_left=86400s;432000:604800;216000:;;604800"
    assert (
        "has 24.0h left, rotation overdue by 4.0d, critical below 2.5d"
        in (record["critical"]["OUTPUT"])
    )
    assert (record["closed"]["STATE"], record["closed"]["OUTPUT"], record["closed"]["PERF"]) == (
        "CRITICAL",
        f"CERT_VALIDITY CRITICAL - 127.0.0.1:{closed}: connection refused",
        "",
    )
    # set_if really passes the flag: --ipv6 with an IPv4 address
    assert record["ipv6-only"]["STATE"] == "CRITICAL"
    assert "127.0.0.1 is not an IPv6 address" in record["ipv6-only"]["OUTPUT"]
    # cert_validity_address = false (or "") leaves --host out (the README's agent rule relies on it)
    for name in ("no-address", "empty-address"):
        assert (record[name]["STATE"], record[name]["OUTPUT"]) == (
            "UNKNOWN",
            "CERT_VALIDITY UNKNOWN - usage error: -H/--host is required (or --file PATH)",
        )
    assert "Icinga has shut down." in icinga.log()
