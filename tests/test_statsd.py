"""--statsd: the same gauges as StatsD datagrams, alongside an unchanged Nagios result.

A UDP listener on loopback checks the wire format byte for byte; the real
``statsd`` daemon (npm package, run with Debian's Node.js; ``.ci/run``
installs it) shows what a StatsD server makes of them, read back through its
management interface.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest

from check_cert_validity import udp

from conftest import NOW, NOW_ARG, free_port, has_ipv6_loopback, run_plugin, stop_process

D = 86400


class UDPListener:
    """Collects datagrams on a loopback port."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.port = self.sock.getsockname()[1]
        self.address = f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    def datagrams(self, quiet: float = 0.3) -> list[bytes]:
        """Everything received until nothing came for ``quiet`` seconds."""
        found = []
        self.sock.settimeout(quiet)
        while True:
            try:
                found.append(self.sock.recv(65535))
            except TimeoutError:
                return found

    def lines(self) -> list[str]:
        return [line for packet in self.datagrams() for line in packet.decode().split("\n")]

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[UDPListener]:
    made = UDPListener()
    yield made
    made.close()


def free_udp_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def plugin(port: int, *args: str, now: str = NOW_ARG) -> tuple[int, str, str]:
    result = run_plugin("-H", "127.0.0.1", "-p", str(port), "--now", now, *args)
    return result.code, result.stdout, result.stderr


def test_wire_format_and_unchanged_nagios_output(
    serve: Callable, leaf_factory: Callable, listener: UDPListener
) -> None:
    port = serve([leaf_factory(age=5, lifetime=30, common_name='evil|cn:"x"\n')]).port
    policy = ("--validity", "30d", "--rotation", "10d")
    plain = plugin(port, *policy, "-v")
    assert plugin(port, *policy, "-v", "--statsd", listener.address) == plain
    assert plain[0] == 0 and plain[2] == ""
    name = f"cert_validity.127_0_0_1.{port}"
    not_after = int((NOW + timedelta(days=25)).timestamp())
    assert listener.lines() == [
        f"{name}.probe_success:1|g",
        f"{name}.state:0|g",
        f"{name}.time_left_seconds:{25 * D}|g",
        f"{name}.lifetime_seconds:{30 * D}|g",
        f"{name}.age_seconds:{5 * D}|g",
        f"{name}.not_after_timestamp_seconds:{not_after}|g",
        f"{name}.expected_min_seconds:{20 * D}|g",
        f"{name}.expected_max_seconds:{30 * D}|g",
        f"{name}.critical_seconds:{10 * D}|g",
    ]


def test_expired_sends_reset_then_negative_value(
    serve: Callable, leaf_factory: Callable, listener: UDPListener
) -> None:
    port = serve([leaf_factory(age=31, lifetime=30)]).port
    code, out, _ = plugin(port, "--statsd", listener.address, "--statsd-prefix", "ops.certs")
    assert code == 2 and out.startswith("CERT_VALIDITY CRITICAL - ")
    lines = listener.lines()
    name = f"ops.certs.127_0_0_1.{port}.time_left_seconds"
    at = lines.index(f"{name}:0|g")
    assert lines[at + 1] == f"{name}:-{D}|g"
    assert f"ops.certs.127_0_0_1.{port}.state:2|g" in lines


def test_unreachable_endpoint_reports_probe_failure(listener: UDPListener) -> None:
    port = free_port()
    code, out, _ = plugin(port, "--statsd", listener.address)
    assert (code, out) == (2, f"CERT_VALIDITY CRITICAL - 127.0.0.1:{port}: connection refused\n")
    assert listener.lines() == [
        f"cert_validity.127_0_0_1.{port}.probe_success:0|g",
        f"cert_validity.127_0_0_1.{port}.state:2|g",
    ]


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_nothing_listening_changes_nothing(
    host: str, serve: Callable, leaf_factory: Callable
) -> None:
    if host == "::1" and not has_ipv6_loopback():
        pytest.skip("no IPv6 loopback")
    port = serve([leaf_factory(age=27, lifetime=30)]).port
    target = f"[{host}]" if ":" in host else host
    plain = plugin(port)
    assert plain[0] == 2
    quiet_port = free_udp_port("::1" if host == "::1" else "127.0.0.1")
    assert plugin(port, "--statsd", f"{target}:{quiet_port}") == plain


def test_sender_never_raises_on_port_unreachable() -> None:
    port = free_udp_port()
    sender = udp.Sender("127.0.0.1", port)
    notes = [sender.send([b"x:1|g", b"y:2|g"]) for _ in range(5)]
    assert notes == [f"statsd: sent 2 datagrams to 127.0.0.1:{port}"] * 5
    # Negative control: the ICMP errors are real; a connected socket would raise on them.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(("127.0.0.1", port))
        with pytest.raises(ConnectionRefusedError):
            for _ in range(5):
                sock.send(b"x:1|g")
                time.sleep(0.01)


def test_sender_reports_what_it_could_not_do() -> None:
    assert udp.Sender("127.0.0.1", 9).send([]) == "statsd: sent 0 datagrams to 127.0.0.1:9"
    # A name that cannot be resolved (empty labels are invalid) is dropped, not raised.
    note = udp.Sender("bad..name", 8125).send([b"x:1|g"], patience=2)
    assert note == "statsd: cannot resolve bad..name:8125, nothing sent"


def test_verbose_debug_tells_on_stderr_only(
    serve: Callable, leaf_factory: Callable, listener: UDPListener
) -> None:
    port = serve([leaf_factory(age=5, lifetime=30)]).port
    code, out, err = plugin(port, "-vvv", "--statsd", listener.address)
    assert code == 0 and out.startswith("CERT_VALIDITY OK - ")
    assert err == f"statsd: sent 1 datagram to {listener.address}\n"


@pytest.mark.parametrize(
    ("value", "reason"),
    [("h:0", "the port must be 1 to 65535"), (":1", "the host is empty")],
)
def test_statsd_usage_errors(value: str, reason: str) -> None:
    result = run_plugin("-H", "h", "--statsd", value)
    assert result.code == 3
    assert result.first_line == (
        f"CERT_VALIDITY UNKNOWN - usage error: argument --statsd: invalid address "
        f"{value!r}: {reason}"
    )


# --- the real statsd daemon ---------------------------------------------------


def statsd_js() -> str | None:
    """stats.js of the npm package, from $STATSD_JS or where .ci/run installs it."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    for path in (
        os.environ.get("STATSD_JS", ""),
        os.path.join(cache, "check_cert_validity", "npm", "node_modules", "statsd", "stats.js"),
    ):
        if path and os.path.isfile(path):
            return path
    return None


class StatsdDaemon:
    """The reference statsd on loopback ports, console backend, read through its mgmt port."""

    def __init__(self, node: str, script: str, directory: str) -> None:
        self.port = free_udp_port()
        self.mgmt_port = free_port()
        config = os.path.join(directory, "config.js")
        with open(config, "w", encoding="utf-8") as handle:
            handle.write(
                f'{{ address: "127.0.0.1", port: {self.port}, '
                f'mgmt_address: "127.0.0.1", mgmt_port: {self.mgmt_port}, '
                'backends: ["./backends/console"], flushInterval: 3600000 }\n'
            )
        self.log = open(os.path.join(directory, "statsd.log"), "w+b")
        self.proc = subprocess.Popen(
            [node, script, config],
            cwd=os.path.dirname(script),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 15
        while self.command("health") != "health: up\n":
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError("statsd did not start: " + self.output())
            time.sleep(0.05)

    def command(self, text: str) -> str:
        try:
            with socket.create_connection(("127.0.0.1", self.mgmt_port), timeout=5) as conn:
                conn.sendall(text.encode() + b"\n")
                data = b""
                while not data.endswith(b"\n") or (text != "health" and b"END" not in data):
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                return data.decode()
        except OSError:
            return ""

    def gauges(self) -> dict[str, float]:
        text = self.command("gauges")
        return {k: float(v) for k, v in re.findall(r"'([^']+)': (-?[0-9.e+]+)", text)}

    def wait_for(self, name: str, value: float) -> dict[str, float]:
        deadline = time.monotonic() + 5
        while True:
            gauges = self.gauges()
            if gauges.get(name) == value or time.monotonic() > deadline:
                return gauges
            time.sleep(0.05)

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def close(self) -> None:
        stop_process(self.proc)
        self.log.close()


@pytest.fixture
def statsd_daemon() -> Iterator[StatsdDaemon]:
    node = shutil.which("node") or shutil.which("nodejs")
    script = statsd_js()
    if not node or not script:
        pytest.skip(
            "the statsd daemon is not installed: .ci/run installs it with npm "
            "(or set STATSD_JS to its stats.js); needs Node.js"
        )
    with tempfile.TemporaryDirectory(prefix="ccv-statsd-") as directory:
        daemon = StatsdDaemon(node, script, directory)
        yield daemon
        daemon.close()


@pytest.mark.integration
def test_real_statsd_daemon_holds_the_gauges(
    serve: Callable, leaf_factory: Callable, statsd_daemon: StatsdDaemon
) -> None:
    port = serve([leaf_factory(age=5, lifetime=30)]).port
    target = f"127.0.0.1:{statsd_daemon.port}"
    name = f"cert_validity.127_0_0_1.{port}"
    code, _out, _err = plugin(port, "--validity", "30d", "--rotation", "10d", "--statsd", target)
    assert code == 0
    gauges = statsd_daemon.wait_for(f"{name}.critical_seconds", 10 * D)
    ours = {k[len(name) + 1 :]: v for k, v in gauges.items() if k.startswith(name + ".")}
    assert ours == {
        "probe_success": 1,
        "state": 0,
        "time_left_seconds": 25 * D,
        "lifetime_seconds": 30 * D,
        "age_seconds": 5 * D,
        "not_after_timestamp_seconds": (NOW + timedelta(days=25)).timestamp(),
        "expected_min_seconds": 20 * D,
        "expected_max_seconds": 30 * D,
        "critical_seconds": 10 * D,
    }, statsd_daemon.output()

    # 40 days on, the same certificate is 15 days expired: the gauge must read -15d,
    # not 25d - 15d (a signed StatsD gauge value is a change unless reset first).
    later = (NOW + timedelta(days=40)).isoformat()
    code, _out, _err = plugin(port, "--statsd", target, now=later)
    assert code == 2
    gauges = statsd_daemon.wait_for(f"{name}.time_left_seconds", -15 * D)
    assert gauges[f"{name}.time_left_seconds"] == -15 * D
    assert gauges[f"{name}.state"] == 2


@pytest.mark.integration
def test_real_statsd_negative_control_signed_value_is_a_change(
    statsd_daemon: StatsdDaemon,
) -> None:
    """Why the reset is needed: without it the daemon adds a negative value."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"probe.gauge:100|g", ("127.0.0.1", statsd_daemon.port))
        assert statsd_daemon.wait_for("probe.gauge", 100).get("probe.gauge") == 100
        sock.sendto(b"probe.gauge:-30|g", ("127.0.0.1", statsd_daemon.port))
        assert statsd_daemon.wait_for("probe.gauge", 70).get("probe.gauge") == 70
