"""The exporter under load and faults, on loopback: hung servers, hostile servers, many probes.

Bounded: every server is local, every probe has a short deadline, and the
soak's numbers are read from /proc (RSS, open descriptors, threads) of the
exporter process itself.
"""

from __future__ import annotations

import http.client
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from exporter_run import ExporterProcess, value

from check_cert_validity.certfactory import issue


class Listener:
    """A loopback TCP server that runs ``behave(conn)`` in its one accept thread."""

    def __init__(self, behave: Callable[[socket.socket], None]) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(512)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.held: list[socket.socket] = []
        self._behave = behave
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            try:
                self._behave(conn)
            except OSError:
                conn.close()

    def hold(self, conn: socket.socket) -> None:
        """Accept and never answer (the connection stays open until close())."""
        self.held.append(conn)

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self._thread.join(5)
        for conn in self.held:
            conn.close()


@pytest.fixture
def listen() -> Iterator[Callable[..., Listener]]:
    made: list[Listener] = []

    def go(behave: Callable[[Listener, socket.socket], None]) -> Listener:
        holder: list[Listener] = []
        made.append(Listener(lambda conn: behave(holder[0], conn)))
        holder.append(made[-1])
        return made[-1]

    yield go
    for listener in made:
        listener.close()


def good_chain() -> list:
    begin = datetime.now(UTC) - timedelta(days=1)
    return [issue(not_before=begin, not_after=begin + timedelta(days=30))]


def timed_probe(port: int, target: str, module: str = "default") -> tuple[int, float]:
    began = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", f"/probe?target={target}&module={module}")
        response = conn.getresponse()
        response.read()
        return response.status, time.monotonic() - began
    finally:
        conn.close()


def test_50_hung_probes_delay_no_good_one_and_outlive_no_deadline(
    start: Callable[..., ExporterProcess], listen: Callable[..., Listener], serve: Callable
) -> None:
    hung = listen(lambda srv, conn: srv.hold(conn))
    good = serve(good_chain())
    exporter = start("modules: {slow: {timeout: 3}}\n")
    with ThreadPoolExecutor(51) as pool:
        stuck = [
            pool.submit(timed_probe, exporter.port, f"127.0.0.1:{hung.port}", "slow")
            for _ in range(50)
        ]
        time.sleep(0.5)  # all 50 are in their handshakes now
        status, seconds = timed_probe(exporter.port, f"127.0.0.1:{good.port}")
        assert status == 200 and seconds < 1.5, seconds
        results = [future.result() for future in stuck]
    assert [status for status, _ in results] == [200] * 50
    longest = max(seconds for _, seconds in results)
    assert longest < 3.6, longest  # the 3 s deadline, plus the HTTP round trip
    assert hung.accepted == 50
    assert (
        value(exporter.get("/metrics").body, 'cert_validity_exporter_probes_total{module="slow"')
        == 50
    )


def test_nothing_beyond_the_in_flight_bound_is_started(
    start: Callable[..., ExporterProcess], listen: Callable[..., Listener]
) -> None:
    hung = listen(lambda srv, conn: srv.hold(conn))
    exporter = start("modules: {slow: {timeout: 2}}\n", "--probe.max-in-flight", "20")
    with ThreadPoolExecutor(50) as pool:
        results = list(
            pool.map(
                lambda _: timed_probe(exporter.port, f"127.0.0.1:{hung.port}", "slow"), range(50)
            )
        )
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * 20 + [503] * 30
    assert max(seconds for status, seconds in results if status == 503) < 1.0  # at once
    time.sleep(0.2)
    assert hung.accepted == 20


def proc_numbers(pid: int) -> tuple[int, int, int]:
    """RSS in KiB, open file descriptors, threads of process ``pid``."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    rss = int(fields["VmRSS"].split()[0])
    threads = int(fields["Threads"])
    return rss, len(os.listdir(f"/proc/{pid}/fd")), threads


def close_at_once(_srv: Listener, conn: socket.socket) -> None:
    conn.close()


def garbage(_srv: Listener, conn: socket.socket) -> None:
    conn.sendall(b"\x16\x03\x01\xff\xff" + b"\x00garbage" * 64)
    conn.close()


def reset(_srv: Listener, conn: socket.socket) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()  # linger 0: an RST instead of a FIN


SOAK = 20_000
FIRST = 1_000


def test_20000_probes_leave_rss_descriptors_and_threads_where_they_were(
    start: Callable[..., ExporterProcess], listen: Callable[..., Listener], serve: Callable
) -> None:
    goods = [serve(good_chain()) for _ in range(2)]
    hostile = [listen(close_at_once), listen(garbage), listen(reset)]
    exporter = start("modules: {quick: {timeout: 2}}\n")
    # good and hostile alternate: half and half, in a fixed order, from 4 keep-alive clients
    good_targets = [f"127.0.0.1:{s.port}" for s in goods] * 3
    bad_targets = [f"127.0.0.1:{h.port}" for h in hostile] * 2
    targets = [t for pair in zip(good_targets, bad_targets, strict=True) for t in pair]
    counts = {"success": 0, "failure": 0}
    lock = threading.Lock()

    def client(offset: int, total: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", exporter.port, timeout=30)
        for i in range(offset, total, 4):
            target = targets[i % len(targets)]
            conn.request("GET", f"/probe?target={target}&module=quick")
            body = conn.getresponse().read()
            ok = b"cert_validity_probe_success{" in body and b"} 1\n" in body
            with lock:
                counts["success" if ok else "failure"] += 1
        conn.close()

    def run(begin: int, end: int) -> None:
        workers = [threading.Thread(target=client, args=(begin + k, end)) for k in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    run(0, FIRST)
    early = proc_numbers(exporter.proc.pid)
    began = time.monotonic()
    run(FIRST, SOAK)
    took = time.monotonic() - began
    late = proc_numbers(exporter.proc.pid)
    print(
        f"soak: after {FIRST}: rss={early[0]}KiB fds={early[1]} threads={early[2]}; "
        f"after {SOAK}: rss={late[0]}KiB fds={late[1]} threads={late[2]}; "
        f"{SOAK - FIRST} probes in {took:.1f}s"
    )
    assert counts == {"success": SOAK // 2, "failure": SOAK // 2}
    assert late[0] <= early[0] * 1.10 + 2048, (early, late)  # RSS: 10% + 2 MiB slack
    assert late[1] <= early[1] + 2, (early, late)  # no descriptor leaks
    assert late[2] == early[2], (early, late)  # no threads made per probe
    assert exporter.get("/-/healthy").status == 200
