"""A real Nagios Core 4 runs the README's Nagios definitions.

Debian's ``nagios4`` is started by the test on its own nagios.cfg in a temp
dir, with Debian's own object templates (``generic-service`` and what it
needs, from /etc/nagios4/objects/) and the README's ``define command`` and
``define service`` blocks, the command pointing at the world-readable install
of the plugin. As root, Nagios drops to the nagios user, as in production.
Its status file (status.dat) must show each service's state, plugin_output
and performance_data, judged on the real clock: a fresh certificate is OK,
one past its rotation is WARNING (the negative control: the state in
status.dat follows the certificate served).
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from check_cert_validity.certfactory import issue

from conftest import DAY, ROOT, Installed, daemon_user, readable_tempdir, stop_process

NAGIOS = shutil.which("nagios4") or "/usr/sbin/nagios4"
DEBIAN_OBJECTS = [
    f"/etc/nagios4/objects/{name}.cfg"
    for name in ("commands", "contacts", "timeperiods", "templates")
]
README = Path(ROOT, "README.md")
VENV_PLUGIN = "/opt/check_cert_validity/bin/check_cert_validity"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not os.path.exists(NAGIOS), reason="nagios4 is not installed (Debian package nagios4)"
    ),
    pytest.mark.skipif(
        not all(os.path.exists(path) for path in DEBIAN_OBJECTS),
        reason="Debian's nagios4 object templates are missing (Debian package nagios4-common)",
    ),
]


def readme_nagios_block() -> str:
    blocks = re.findall(r"^```nagios\n(.*?)^```$", README.read_text(encoding="utf-8"), re.M | re.S)
    assert len(blocks) == 1, "the README should have one ```nagios block"
    return blocks[0]


def definitions(block: str, kind: str) -> list[str]:
    return re.findall(rf"^define {kind} \{{\n.*?^\}}\n", block, re.M | re.S)


def status(path: str) -> dict[str, dict[str, str]]:
    """status.dat's servicestatus blocks by service_description."""
    found: dict[str, dict[str, str]] = {}
    if not os.path.exists(path):
        return found
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    for body in re.findall(r"^servicestatus \{\n(.*?)^\t\}", text, re.M | re.S):
        fields = dict(line.strip().split("=", 1) for line in body.splitlines() if "=" in line)
        found[fields["service_description"]] = fields
    return found


class Nagios:
    """One nagios4 process on its own configuration and state under a temp dir."""

    def __init__(self, top: str) -> None:
        self.top = top
        self.user, self.group = daemon_user()
        for sub in ("spool", "rw"):
            os.mkdir(os.path.join(top, sub))
        if os.geteuid() == 0:
            entry = pwd.getpwnam(self.user)
            for sub in ("", "spool", "rw"):
                os.chown(os.path.join(top, sub), entry.pw_uid, entry.pw_gid)
        self.config = os.path.join(top, "nagios.cfg")
        self.status_file = os.path.join(top, "status.dat")
        self.log_file = os.path.join(top, "nagios.log")
        self.proc: subprocess.Popen[bytes] | None = None

    def write(self, objects: str) -> None:
        Path(self.top, "objects.cfg").write_text(objects, encoding="utf-8")
        settings = {
            "log_file": self.log_file,
            "object_cache_file": f"{self.top}/objects.cache",
            "precached_object_file": f"{self.top}/objects.precache",
            "status_file": self.status_file,
            "status_update_interval": "1",
            "nagios_user": self.user,
            "nagios_group": self.group,
            "check_external_commands": "0",
            "command_file": f"{self.top}/rw/nagios.cmd",
            "query_socket": f"{self.top}/rw/nagios.qh",
            "lock_file": f"{self.top}/nagios.pid",
            "temp_file": f"{self.top}/nagios.tmp",
            "temp_path": self.top,
            "check_result_path": f"{self.top}/spool",
            "check_result_reaper_frequency": "1",
            "retain_state_information": "0",
            "use_syslog": "0",
            "enable_notifications": "0",  # Debian's templates would mail the admins
            "execute_host_checks": "0",
            # every first check at once, not spread over the interval
            "service_inter_check_delay_method": "n",
            "check_for_updates": "0",
        }
        lines = [f"cfg_file={path}" for path in (*DEBIAN_OBJECTS, f"{self.top}/objects.cfg")]
        lines += [f"{key}={value}" for key, value in settings.items()]
        Path(self.config).write_text("\n".join(lines) + "\n", encoding="utf-8")

    def verify(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [NAGIOS, "-v", self.config], capture_output=True, text=True, timeout=60
        )

    def start(self) -> None:
        with open(os.path.join(self.top, "nagios.out"), "wb") as out:
            self.proc = subprocess.Popen(
                [NAGIOS, self.config],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its worker processes: killpg on the way out
            )

    def log(self) -> str:
        parts = []
        for name in ("nagios.out", "nagios.log"):
            path = os.path.join(self.top, name)
            if os.path.exists(path):
                parts.append(Path(path).read_text(encoding="utf-8", errors="replace")[-3000:])
        return "\n".join(parts)

    def wait_for(self, services: set[str], timeout: float = 60) -> dict[str, dict[str, str]]:
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc is not None and self.proc.poll() is None, (
                f"nagios4 exited:\n{self.log()}"
            )
            found = status(self.status_file)
            checked = {
                name for name, fields in found.items() if fields.get("has_been_checked") == "1"
            }
            if services <= checked:
                return found
            assert time.monotonic() < deadline, (
                f"no results for {services - checked}:\n{self.log()}"
            )
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, 30, group=True)


@pytest.fixture
def nagios() -> Iterator[Nagios]:
    top = readable_tempdir("ccv-nagios4-")
    daemon = Nagios(top)
    try:
        yield daemon
    finally:
        daemon.stop()
        shutil.rmtree(top, ignore_errors=True)


def objects_from_readme(plugin: str, ports: dict[str, int]) -> str:
    """The README's command as written (its plugin path aside), one service per port."""
    block = readme_nagios_block()
    (command,) = definitions(block, "command")
    (service,) = definitions(block, "service")
    assert VENV_PLUGIN in command
    parts = [command.replace(VENV_PLUGIN, plugin)]
    parts.append(
        "define host {\n    use generic-host\n    host_name tls.internal\n"
        "    address 127.0.0.1\n    max_check_attempts 1\n}\n"
    )
    for name, port in ports.items():
        mine = service.replace("web1.internal", "tls.internal")
        mine = mine.replace("cert-https", name)
        mine = mine.replace(
            "check_cert_validity!443!90d!60d", f"check_cert_validity!{port}!30d!20d"
        )
        parts.append(mine)
    return "\n".join(parts)


def expires(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def test_readme_definitions_run_in_nagios4(
    nagios: Nagios, installed: Installed, serve: Callable
) -> None:
    # the real clock, to the second: the service is checked within moments
    now = datetime.now(UTC).replace(microsecond=0)
    fresh_end = now + 27 * DAY
    overdue_end = now + 8 * DAY
    fresh = serve(
        [issue(not_before=now - 3 * DAY, not_after=fresh_end, common_name="fresh.internal")]
    )
    overdue = serve(
        [issue(not_before=now - 22 * DAY, not_after=overdue_end, common_name="overdue.internal")]
    )
    nagios.write(
        objects_from_readme(
            installed.plugin, {"cert-fresh": fresh.port, "cert-overdue": overdue.port}
        )
    )
    verified = nagios.verify()
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "Total Errors:   0" in verified.stdout

    nagios.start()
    found = nagios.wait_for({"cert-fresh", "cert-overdue"})

    ok, warning = found["cert-fresh"], found["cert-overdue"]
    assert ok["current_state"] == "0", ok
    assert ok["plugin_output"] == (
        f"CERT_VALIDITY OK - 127.0.0.1:{fresh.port} certificate 'fresh.internal' has 27.0d left"
        f" (expires {expires(fresh_end)})"
    )
    assert warning["current_state"] == "1", warning
    assert warning["plugin_output"] == (
        f"CERT_VALIDITY WARNING - 127.0.0.1:{overdue.port} certificate 'overdue.internal'"
        f" has 8.0d left, rotation overdue by 2.0d (expires {expires(overdue_end)})"
    )
    # time left in seconds as the plugin measured it at its run, then the V/R ranges
    for fields, end in ((ok, fresh_end), (warning, overdue_end)):
        value, rest = re.fullmatch(r"time_left=(\d+)s(;.*)", fields["performance_data"]).groups()  # type: ignore[union-attr]
        assert rest == ";864000:2592000;432000:;;2592000", fields
        checked = datetime.fromtimestamp(int(fields["last_check"]), UTC)
        assert abs(int(value) - (end - checked).total_seconds()) <= 5, fields
