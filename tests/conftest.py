"""Shared fixtures: certificates with exact times, loopback servers, the plugin as a process."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from check_cert_validity.certfactory import Issued, issue
from check_cert_validity.loopback import TLSServer

DAY = timedelta(days=1)
# A fixed instant: tests pass it as --now so whole output lines are exact.
NOW = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)
NOW_ARG = "2026-11-30T12:00:00Z"


def plugin_command() -> list[str]:
    """The installed console script next to this interpreter."""
    script = os.path.join(os.path.dirname(sys.executable), "check_cert_validity")
    if os.path.exists(script):
        return [script]
    found = shutil.which("check_cert_validity")
    assert found, "check_cert_validity is not installed (pip install .)"
    return [found]


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def first_line(self) -> str:
        return self.stdout.splitlines()[0] if self.stdout else ""


def run_plugin(*args: str, timeout: float = 30) -> Run:
    """Run the installed plugin as a subprocess."""
    start = time.monotonic()
    proc = subprocess.run(
        [*plugin_command(), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)


# Runs argv[2:] and writes "<peak RSS KiB> <wall seconds>" of that child to argv[1].
# A separate small launcher because Linux keeps ru_maxrss across fork and exec:
# a child forked straight from pytest would inherit pytest's own (large) peak.
_MEASURE = """
import os, subprocess, sys, time
start = time.monotonic()
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
seconds = time.monotonic() - start
with open(sys.argv[1], "w") as handle:
    handle.write(f"{usage.ru_maxrss} {seconds}")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_measured(command: Sequence[str], timeout: float = 30) -> tuple[Run, int]:
    """Run ``command``; its result (wall time of the command alone) and peak RSS in KiB."""
    with tempfile.TemporaryDirectory(prefix="ccv-rss-") as tmp:
        report = os.path.join(tmp, "rss")
        proc = subprocess.run(
            [sys.executable, "-c", _MEASURE, report, *command],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        with open(report) as handle:
            kib, seconds = handle.read().split()
    return Run(proc.returncode, proc.stdout, proc.stderr, float(seconds)), int(kib)


@pytest.fixture(scope="session")
def ca() -> Issued:
    return issue(
        common_name="Test Root CA", ca=True, not_before=NOW - 3650 * DAY, not_after=NOW + 3650 * DAY
    )


@pytest.fixture
def leaf_factory(ca: Issued) -> Callable[..., Issued]:
    """Leaves by age and lifetime in days (floats) relative to NOW."""

    def make(age: float, lifetime: float, **kwargs: object) -> Issued:
        start = NOW - timedelta(days=age)
        kwargs.setdefault("issuer", ca)
        return issue(not_before=start, not_after=start + timedelta(days=lifetime), **kwargs)  # type: ignore[arg-type]

    return make


@pytest.fixture
def serve() -> Iterator[Callable[..., TLSServer]]:
    """Start TLS servers that are closed after the test."""
    servers: list[TLSServer] = []

    def start(chain: Sequence[Issued], **kwargs: object) -> TLSServer:
        server = TLSServer(chain, **kwargs)  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def free_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


class RawServer:
    """A plain TCP server on loopback running ``behave(conn)`` per connection."""

    def __init__(self, behave: Callable[[socket.socket], None], host: str = "127.0.0.1") -> None:
        import threading

        self._listener = loopback_listener(host)
        self.port = self._listener.getsockname()[1]
        self._behave = behave
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._loop, daemon=True)
        self._accept.start()

    def _loop(self) -> None:
        import threading

        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            worker = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            self._threads.append(worker)
            worker.start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            try:
                self._behave(conn)
            except OSError:
                pass

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True when the server is being closed."""
        return self._stop.wait(seconds)

    def close(self) -> None:
        self._stop.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        self._accept.join(5)
        for worker in self._threads:
            worker.join(5)


@pytest.fixture
def raw_server() -> Iterator[Callable[..., RawServer]]:
    servers: list[RawServer] = []

    def start(
        behave: Callable[[RawServer, socket.socket], None], host: str = "127.0.0.1"
    ) -> RawServer:
        holder: list[RawServer] = []
        server = RawServer(lambda conn: behave(holder[0], conn), host)
        holder.append(server)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


# --- The plugin as a user installs it: built with `python -m build`, installed
# from the wheel into a venv made from Debian's /usr/bin/python3 in a
# world-readable temp dir, so that the nagios user (Icinga 2, NRPE) can run it
# wherever CI cloned the repository (the dev venv may sit under /root).

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass
class Installed:
    prefix: str  # the venv
    dist: str  # sdist and wheel from `python -m build`

    @property
    def plugin(self) -> str:
        return os.path.join(self.prefix, "bin", "check_cert_validity")


def readable_tempdir(prefix: str) -> str:
    """A temp dir other users (nagios) can enter; the caller removes it."""
    import tempfile

    path = tempfile.mkdtemp(prefix=prefix)
    os.chmod(path, 0o755)
    return path


def must_run(*cmd: str, timeout: float = 600) -> str:
    """Run a setup command; fail with its output when it fails."""
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="session")
def installed() -> Iterator[Installed]:
    top = readable_tempdir("ccv-install-")
    dist, prefix = os.path.join(top, "dist"), os.path.join(top, "venv")
    try:
        must_run(sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", dist, ROOT)
        wheel = next(name for name in os.listdir(dist) if name.endswith(".whl"))
        python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
        made = subprocess.run([python, "-m", "venv", prefix], capture_output=True, text=True)
        if made.returncode != 0 and "ensurepip" in made.stdout + made.stderr:
            pytest.skip(f"{python} cannot make a venv (Debian: apt-get install python3-venv)")
        assert made.returncode == 0, f"{python} -m venv failed:\n{made.stdout}\n{made.stderr}"
        must_run(os.path.join(prefix, "bin", "pip"), "install", "-q", os.path.join(dist, wheel))
        yield Installed(prefix, dist)
    finally:
        shutil.rmtree(top, ignore_errors=True)


def daemon_user() -> tuple[str, str]:
    """Who the daemons run checks as: nagios when we are root, else ourselves."""
    import grp
    import pwd

    if os.geteuid() == 0:
        try:
            pwd.getpwnam("nagios")
            return "nagios", grp.getgrgid(pwd.getpwnam("nagios").pw_gid).gr_name
        except KeyError:
            pass
    return pwd.getpwuid(os.geteuid()).pw_name, grp.getgrgid(os.getegid()).gr_name


def as_user(user: str) -> dict[str, Any]:
    """``subprocess`` arguments that run a child as ``user`` (with its groups) when we are root."""
    import pwd

    entry = pwd.getpwnam(user)
    if os.geteuid() != 0 or entry.pw_uid == 0:
        return {}
    groups = os.getgrouplist(user, entry.pw_gid)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": groups}


def cannot_run_as(user: str, plugin: str) -> str | None:
    """Why ``user`` cannot start the ``plugin`` script, or None when it can.

    Only reasons of where things lie: the script, or the interpreter its
    ``#!`` names (a pyenv python3 under /root, a checkout whose parent folder
    is 0700), out of that user's reach. A plugin that starts and then fails
    is not a reason: the test that runs it must see that.
    """
    switch = as_user(user)
    with open(plugin, "rb") as handle:
        first = handle.readline()
    interpreter = first[2:].split()[0].decode() if first.startswith(b"#!") else plugin
    where = f"{plugin} (interpreter {os.path.realpath(interpreter)})"
    try:
        proc = subprocess.run(
            [plugin, "-V"], capture_output=True, text=True, timeout=30, check=False, **switch
        )
    except PermissionError as error:
        return f"user {user} cannot execute {where}: {error.strerror}"
    if proc.returncode != 3 and "Permission denied" in proc.stderr:
        return f"user {user} cannot run {where}: {proc.stderr.strip().splitlines()[-1]}"
    return None


def stop_process(proc: subprocess.Popen, grace: float = 10.0, *, group: bool = False) -> None:
    """SIGTERM, up to ``grace`` seconds to exit, then SIGKILL.

    With ``group`` the SIGKILL goes to the whole process group whatever
    happened (daemons whose workers outlive the main process).
    """
    import signal

    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        pass
    if group:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    elif proc.poll() is None:
        proc.kill()
    proc.wait(10)


def wait_for_port(
    port: int,
    host: str = "127.0.0.1",
    timeout: float = 10.0,
    proc: subprocess.Popen | None = None,
    logs: Sequence[str] = (),
) -> None:
    """Return once something accepts connections on ``host:port``.

    Fail when ``timeout`` seconds are up or ``proc`` (the server) exits first,
    quoting the end of each of ``logs``: the server's own startup error is
    what the reader needs, not a refused connection later.
    """
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            problem = f"the server exited with code {proc.returncode} before listening"
            break
        left = deadline - time.monotonic()
        if left <= 0:
            problem = f"nothing listened within {timeout:g}s"
            break
        try:
            socket.create_connection((host, port), min(0.2, left)).close()
            return
        except OSError:
            time.sleep(min(0.05, max(left, 0)))
    shown = [f"{host}:{port}: {problem}"]
    for log in logs:
        text = Path(log).read_text(errors="replace")[-2000:] if os.path.exists(log) else ""
        shown.append(f"--- {log}:\n{text.rstrip() or '(empty)'}")
    pytest.fail("\n".join(shown))


def loopback_listener(host: str = "127.0.0.1") -> socket.socket:
    """A listening TCP socket on ``host``, on a port the kernel picks."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, 0))
    listener.listen(8)
    return listener


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Start exporters on their own config (``start(config, *flags)``); all stopped after."""
    from exporter_run import ExporterProcess

    made: list[ExporterProcess] = []

    def go(config: str | None = None, *flags: str) -> ExporterProcess:
        made.append(ExporterProcess(tmp_path, config, flags, name=f"c{len(made)}"))
        return made[-1]

    yield go
    for proc in made:
        proc.stop()
