"""The exporter's StatsD loop: the --statsd gauges for listed targets, every interval.

The real statsd daemon (npm, as in test_statsd.py) shows what a StatsD
server makes of them; a UDP listener on loopback timestamps each datagram to
show that a hung target delays no other and restarts when its probe ends.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from exporter_run import ExporterProcess
from test_statsd import StatsdDaemon, statsd_js

from check_cert_validity.certfactory import issue

from conftest import free_port

D = 86400


@pytest.fixture
def daemon() -> Iterator[StatsdDaemon]:
    node = shutil.which("node") or shutil.which("nodejs")
    script = statsd_js()
    if not node or not script:
        pytest.skip(
            "the statsd daemon is not installed: .ci/run installs it with npm "
            "(or set STATSD_JS to its stats.js); needs Node.js"
        )
    with tempfile.TemporaryDirectory(prefix="ccv-statsd-") as directory:
        made = StatsdDaemon(node, script, directory)
        yield made
        made.close()


def leaf_server(serve: Callable, age: float, lifetime: float) -> int:
    begin = datetime.now(UTC) - timedelta(days=age)
    return int(serve([issue(not_before=begin, not_after=begin + timedelta(days=lifetime))]).port)


@pytest.mark.integration
def test_real_statsd_daemon_gets_the_loops_gauges(
    start: Callable[..., ExporterProcess], serve: Callable, daemon: StatsdDaemon
) -> None:
    good = leaf_server(serve, age=5, lifetime=30)
    closed = free_port()
    start(
        "modules: {internal_30d: {validity: 30d, rotation: 10d, timeout: 2s}}\n"
        "statsd:\n"
        f"  address: 127.0.0.1:{daemon.port}\n"
        "  prefix: fleet.certs\n"
        "  interval: 1s\n"
        "  targets:\n"
        f"    - {{target: '127.0.0.1:{good}', module: internal_30d}}\n"
        f"    - {{target: '127.0.0.1:{closed}'}}\n"
    )
    name = f"fleet.certs.127_0_0_1.{good}"
    gauges = daemon.wait_for(f"{name}.expected_min_seconds", 20 * D)
    ours = {k[len(name) + 1 :]: v for k, v in gauges.items() if k.startswith(name + ".")}
    assert set(ours) == {
        "probe_success",
        "state",
        "time_left_seconds",
        "lifetime_seconds",
        "age_seconds",
        "not_after_timestamp_seconds",
        "expected_min_seconds",
        "expected_max_seconds",
        "critical_seconds",
    }, daemon.output()
    assert (ours["probe_success"], ours["state"], ours["expected_max_seconds"]) == (1, 0, 30 * D)
    assert abs(ours["time_left_seconds"] - 25 * D) < 60
    down = f"fleet.certs.127_0_0_1.{closed}"
    gauges = daemon.wait_for(f"{down}.state", 2)
    assert (gauges[f"{down}.probe_success"], gauges[f"{down}.state"]) == (0, 2)


class Stamped:
    """Every StatsD line received, with its arrival time."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.lines: list[tuple[float, str]] = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                packet = self.sock.recv(65535)
            except OSError:
                return
            at = time.monotonic()
            self.lines.extend((at, line) for line in packet.decode().split("\n"))

    def times(self, name: str) -> list[float]:
        return [at for at, line in self.lines if line.startswith(name + ":")]

    def close(self) -> None:
        self.sock.close()


def test_a_hung_target_delays_no_other_and_restarts_when_its_probe_ends(
    start: Callable[..., ExporterProcess], serve: Callable, raw_server: Callable
) -> None:
    good = leaf_server(serve, age=1, lifetime=30)
    hung = raw_server(lambda srv, conn: srv.wait(30))
    listener = Stamped()
    try:
        began = time.monotonic()
        start(
            "modules: {slow: {timeout: 2.5}}\n"
            "statsd:\n"
            f"  address: 127.0.0.1:{listener.port}\n"
            "  interval: 1s\n"
            "  targets:\n"
            f"    - {{target: '127.0.0.1:{good}'}}\n"
            f"    - {{target: '127.0.0.1:{hung.port}', module: slow}}\n"
        )
        time.sleep(5.6)
        fine = listener.times(f"cert_validity.127_0_0_1.{good}.probe_success")
        slow = listener.times(f"cert_validity.127_0_0_1.{hung.port}.probe_success")
    finally:
        listener.close()
    # probed at start and every second, whatever the hung target does
    assert len(fine) >= 4, fine
    assert all(0.7 < later - earlier < 1.3 for earlier, later in pairwise(fine))
    # the hung one reports at its 2.5 s deadline and starts again at once (not 1 s later)
    assert len(slow) == 2, slow
    assert slow[0] - began > 2.5
    assert 2.3 < slow[1] - slow[0] < 2.9
