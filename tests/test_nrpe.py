"""A real NRPE daemon runs the shipped command definitions; check_nrpe asks it.

The shipped ``contrib/nrpe/check_cert_validity.cfg`` is copied with exactly
three substitutions (plugin path, port, certificate file), each asserted to
happen, and included from a temp nrpe.cfg: own free loopback port, own pid
file, dont_blame_nrpe=0. As root NRPE drops to nagios, as in production.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from check_cert_validity.loopback import write_pem

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

NRPE = shutil.which("nrpe") or "/usr/sbin/nrpe"
CHECK_NRPE = "/usr/lib/nagios/plugins/check_nrpe"
SHIPPED = Path(ROOT, "contrib/nrpe/check_cert_validity.cfg")
SHIPPED_PLUGIN = "/opt/check_cert_validity/bin/check_cert_validity"
SHIPPED_FILE = "/etc/ssl/private/service.pem"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not os.path.exists(NRPE), reason="nrpe is not installed (Debian nagios-nrpe-server)"
    ),
    pytest.mark.skipif(
        not os.path.exists(CHECK_NRPE),
        reason="check_nrpe is not installed (Debian nagios-nrpe-plugin)",
    ),
]


def commands() -> dict[str, str]:
    """The shipped command definitions: name -> command line."""
    found = {}
    for line in SHIPPED.read_text(encoding="utf-8").splitlines():
        if line.startswith("command["):
            name, command = line[len("command[") :].split("]=", 1)
            found[name] = command
    return found


def test_shipped_definitions_need_no_dont_blame_nrpe() -> None:
    assert set(commands()) == {
        "check_cert_validity_endpoint",
        "check_cert_validity_file",
        "check_cert_validity_uptake",
    }
    text = SHIPPED.read_text(encoding="utf-8")
    assert "$ARG" not in text
    assert "dont_blame_nrpe=" not in text
    assert all(command.startswith(SHIPPED_PLUGIN + " ") for command in commands().values())


class Nrpe:
    def __init__(self, top: str, plugin: str, port: int, cert_file: str) -> None:
        self.top, self.port = top, free_port()
        text = SHIPPED.read_text(encoding="utf-8")
        for old, new in (
            (SHIPPED_PLUGIN, f"{plugin} --now {NOW_ARG}"),
            ("-p 443", f"-p {port}"),
            (SHIPPED_FILE, cert_file),
        ):
            assert old in text, f"{SHIPPED.name} no longer contains {old!r}"
            text = text.replace(old, new)
        Path(top, "commands.cfg").write_text(text, encoding="utf-8")
        user, group = daemon_user()
        Path(top, "nrpe.cfg").write_text(
            f"""pid_file={top}/nrpe.pid
server_address=127.0.0.1
server_port={self.port}
nrpe_user={user}
nrpe_group={group}
allowed_hosts=127.0.0.1
dont_blame_nrpe=0
command_timeout=60
connection_timeout=30
disable_syslog=1
log_file={top}/nrpe.log
include={top}/commands.cfg
""",
            encoding="utf-8",
        )
        self.proc = subprocess.Popen(
            [NRPE, "-c", f"{top}/nrpe.cfg", "-f"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                break
            except OSError:
                assert self.proc.poll() is None, self.log()
                assert time.monotonic() < deadline, f"nrpe did not listen:\n{self.log()}"
                time.sleep(0.05)

    def log(self) -> str:
        path = Path(self.top, "nrpe.log")
        return path.read_text(errors="replace") if path.exists() else ""

    def ask(self, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CHECK_NRPE, "-H", "127.0.0.1", "-p", str(self.port), "-t", "30", "-c", command],
            capture_output=True,
            text=True,
            timeout=60,
        )

    def stop(self) -> None:
        stop_process(self.proc, group=True)


@pytest.fixture
def nrpe(installed: Installed) -> Iterator[Callable[..., Nrpe]]:
    reason = cannot_run_as(daemon_user()[0], installed.plugin)
    if reason:  # NRPE would only answer that it cannot execute the plugin
        pytest.skip(reason)
    daemons: list[Nrpe] = []
    tops: list[str] = []

    def start(port: int, cert_file: str = "/nonexistent.pem") -> Nrpe:
        top = readable_tempdir("ccv-nrpe-")
        tops.append(top)
        daemons.append(Nrpe(top, installed.plugin, port, cert_file))
        return daemons[-1]

    yield start
    for daemon in daemons:
        daemon.stop()
    for top in tops:
        shutil.rmtree(top, ignore_errors=True)


def direct(installed: Installed, command_line: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command_line.split(), capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("age", "code", "line"),
    [
        (
            5,
            0,
            "CERT_VALIDITY OK - localhost:{port} certificate 'svc.internal' has 25.0d left "
            "(expires 2026-12-25 12:00 UTC) | time_left=2160000s;1728000:2592000;864000:;;2592000",
        ),
        (
            15.8,
            1,
            "CERT_VALIDITY WARNING - localhost:{port} certificate 'svc.internal' has 14.2d left, "
            "rotation overdue by 5.8d (expires 2026-12-14 16:48 UTC) "
            "| time_left=1226880s;1728000:2592000;864000:;;2592000",
        ),
        (
            25,
            2,
            "CERT_VALIDITY CRITICAL - localhost:{port} certificate 'svc.internal' has 5.0d left, "
            "rotation overdue by 15.0d, critical below 10.0d (expires 2026-12-05 12:00 UTC) "
            "| time_left=432000s;1728000:2592000;864000:;;2592000",
        ),
    ],
)
def test_endpoint_check_through_nrpe_is_unchanged(
    age: float,
    code: int,
    line: str,
    nrpe: Callable[..., Nrpe],
    installed: Installed,
    serve: Callable,
    leaf_factory: Callable,
) -> None:
    server = serve([leaf_factory(age=age, lifetime=30, common_name="svc.internal")])
    daemon = nrpe(server.port)
    remote = daemon.ask("check_cert_validity_endpoint")
    assert (remote.returncode, remote.stdout) == (code, line.format(port=server.port) + "\n")
    assert server.seen_sni == ["localhost"]
    # byte for byte what the same command line prints when run directly
    local = direct(
        installed,
        commands()["check_cert_validity_endpoint"]
        .replace(SHIPPED_PLUGIN, f"{installed.plugin} --now {NOW_ARG}")
        .replace("-p 443", f"-p {server.port}"),
    )
    assert (local.returncode, local.stdout) == (remote.returncode, remote.stdout)


def test_unknown_command_is_refused(nrpe: Callable[..., Nrpe]) -> None:
    # negative control: the daemon answers only for the commands it was given
    remote = nrpe(free_port()).ask("check_cert_validity_bogus")
    assert remote.returncode == 3
    assert "Command 'check_cert_validity_bogus' not defined" in remote.stdout


def _plugin_has(installed: Installed, option: str) -> bool:
    helped = subprocess.run([installed.plugin, "--help"], capture_output=True, text=True)
    return option in helped.stdout


def test_file_and_uptake_checks_through_nrpe(
    nrpe: Callable[..., Nrpe],
    installed: Installed,
    serve: Callable,
    leaf_factory: Callable,
    tmp_path: Path,
) -> None:
    if not (_plugin_has(installed, "--file") and _plugin_has(installed, "--expect-file")):
        pytest.skip("the plugin has no --file/--expect-file yet (issue 4)")
    served = leaf_factory(age=5, lifetime=30, common_name="svc.internal")
    server = serve([served])
    folder = readable_tempdir("ccv-pem-")
    try:
        cert_file, _key = write_pem(folder, "service", [served])
        os.chmod(cert_file, 0o644)
        daemon = nrpe(server.port, cert_file)
        from_file = daemon.ask("check_cert_validity_file")
        assert from_file.returncode == 0, from_file.stdout
        assert "25.0d left" in from_file.stdout
        uptake = daemon.ask("check_cert_validity_uptake")
        assert uptake.returncode == 0, uptake.stdout
        # negative control: a different certificate on disk than the one served
        other = leaf_factory(age=1, lifetime=30, common_name="svc.internal")
        write_pem(folder, "service", [other])
        stale = daemon.ask("check_cert_validity_uptake")
        assert stale.returncode != 0, stale.stdout
    finally:
        shutil.rmtree(folder, ignore_errors=True)
