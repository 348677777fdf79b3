"""How much does --statsd add to a check? Prints numbers; asserts nothing.

1. In process: making a ``udp.Sender`` and sending one check's datagrams,
   to an IP literal and to ``localhost``, with nothing listening.
2. The installed plugin, run against a loopback TLS server with and without
   ``--statsd`` pointed at a port where nothing listens (median of N runs).

Run: ``.venv/bin/python bench/statsd_overhead.py [N]``
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from check_cert_validity import gauges, statsd, udp
from check_cert_validity.certfactory import issue
from check_cert_validity.certinfo import CertFacts
from check_cert_validity.judgement import Acquired, judge
from check_cert_validity.loopback import TLSServer
from check_cert_validity.thresholds import Policy


def quiet_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def in_process(runs: int) -> None:
    now = datetime.now(UTC)
    made = issue(not_before=now - timedelta(days=5), not_after=now + timedelta(days=25))
    facts = CertFacts.from_certificate(made.cert)
    judgement = judge(Acquired("db1.internal:443", (facts,)), Policy(), now)
    port = quiet_port()
    for host in ("127.0.0.1", "localhost"):
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            sender = udp.Sender(host, port)
            sender.send(statsd.datagrams(gauges.samples(judgement, "db1.internal", 443, None)))
            times.append(time.perf_counter() - start)
        print(
            f"in process, {host:>9}: median {statistics.median(times) * 1000:.3f} ms, "
            f"max {max(times) * 1000:.3f} ms over {runs} (render + resolve + send)"
        )


def plugin_runs(runs: int) -> None:
    script = os.path.join(os.path.dirname(sys.executable), "check_cert_validity")
    now = datetime.now(UTC)
    made = issue(not_before=now - timedelta(days=5), not_after=now + timedelta(days=25))
    with TLSServer([made]) as server:
        base = [script, "-H", "127.0.0.1", "-p", str(server.port)]
        variants = {
            "without --statsd": base,
            "--statsd 127.0.0.1 (nothing listens)": [
                *base,
                "--statsd",
                f"127.0.0.1:{quiet_port()}",
            ],
            "--statsd localhost (nothing listens)": [
                *base,
                "--statsd",
                f"localhost:{quiet_port()}",
            ],
        }
        times: dict[str, list[float]] = {label: [] for label in variants}
        for _ in range(runs):  # round robin, so load changes hit every variant alike
            for label, command in variants.items():
                start = time.perf_counter()
                subprocess.run(command, capture_output=True, check=False)
                times[label].append(time.perf_counter() - start)
        for label, spent in times.items():
            print(f"plugin {label:>38}: median {statistics.median(spent) * 1000:.1f} ms")


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    in_process(count * 10)
    plugin_runs(count)
