"""The exporter beside Debian's blackbox_exporter, probing one loopback TLS endpoint.

Run after ``pip install '.[exporter]'`` (and ``apt install prometheus-blackbox-exporter``)::

    python bench/exporter.py            # 3 interleaved rounds of 400 probes per cell
    python bench/exporter.py --quick    # 1 round of 100, for CI (numbers not asserted)
    python bench/exporter.py --instructions   # also this exporter's instructions per probe

It serves an ECDSA P-256 and an RSA-2048 leaf from a threaded loopback TLS
server, starts both exporters on loopback (blackbox_exporter with the tcp
prober, ``tls: true``, ``insecure_skip_verify: true``: how one reads an
internal-CA endpoint without trusting it), and in every round runs each
exporter with 1 and with 8 concurrent keep-alive scrapers, interleaved so
machine drift hits both alike. Per cell: probes per second, the exporter's
CPU ms per probe (utime+stime of its process, from /proc), and its RSS
before the first and after the last probe. Every answer is checked to be a
successful probe.

``--instructions`` also counts this exporter's user-space instructions per
probe with valgrind's callgrind, which a shared machine's load cannot blur:
two runs of different lengths under callgrind, one scraper, and the
difference divided by the difference in probes (start-up and warm-up cancel
out).
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta

from check_cert_validity.certfactory import issue
from check_cert_validity.loopback import write_pem

BLACKBOX = "prometheus-blackbox-exporter"
BLACKBOX_CONFIG = """modules:
  tls:
    prober: tcp
    timeout: 5s
    tcp:
      tls: true
      tls_config:
        insecure_skip_verify: true
"""
TICK = os.sysconf("SC_CLK_TCK")


class ThreadedTLSServer:
    """A TLS endpoint that handshakes each connection in a thread of its own (C does the work)."""

    def __init__(self, key: str, directory: str) -> None:
        now = datetime.now(UTC)
        leaf = issue(
            not_before=now - timedelta(days=1), not_after=now + timedelta(days=29), key=key
        )
        cert, private = write_pem(directory, key, [leaf])
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, private)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1024)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            with self.context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)
        except OSError:
            conn.close()

    def close(self) -> None:
        self.sock.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def cpu_ms(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / TICK


def rss_mib(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Peer:
    """One exporter process and how to probe through it."""

    def __init__(
        self, name: str, command: list[str], port: int, path: str, ok: bytes, start: float = 20
    ) -> None:
        self.name, self.port, self.path, self.ok = name, port, path, ok
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(port, start)
        self.rss_before = rss_mib(self.proc.pid)

    def scrape(self, target: str, count: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        for _ in range(count):
            conn.request("GET", self.path.format(target=target))
            body = conn.getresponse().read()
            if self.ok not in body:
                raise RuntimeError(f"{self.name}: probe failed:\n{body.decode()[:500]}")
        conn.close()

    def cell(self, target: str, scrapers: int, probes: int) -> tuple[float, float]:
        """Probes per second and CPU ms per probe for ``probes`` over ``scrapers`` clients."""
        each = probes // scrapers
        workers = [
            threading.Thread(target=self.scrape, args=(target, each)) for _ in range(scrapers)
        ]
        cpu = cpu_ms(self.proc.pid)
        began = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        wall = time.perf_counter() - began
        return each * scrapers / wall, (cpu_ms(self.proc.pid) - cpu) / (each * scrapers)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def instructions(server: ThreadedTLSServer, directory: str, counts: tuple[int, int]) -> float:
    """This exporter's user-space instructions per probe, by callgrind (one scraper)."""
    totals = []
    for count in counts:
        out = os.path.join(directory, f"callgrind.{server.port}.{count}")
        port = free_port()
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
        command += [sys.executable, "-m", "check_cert_validity.exporter"]
        command += ["--web.listen-address", f"127.0.0.1:{port}", "--log.level", "warn"]
        peer = Peer("callgrind", command, port, "/probe?target={target}", b"_success{", 180)
        peer.cell(f"127.0.0.1:{server.port}", 1, 16)
        peer.scrape(f"127.0.0.1:{server.port}", count)
        peer.proc.terminate()  # SIGTERM: the exporter stops cleanly, callgrind writes its file
        peer.proc.wait(120)
        with open(out) as handle:
            summary = next(line for line in handle if line.startswith("summary:"))
        totals.append(int(summary.split()[1]))
    return (totals[1] - totals[0]) / (counts[1] - counts[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="1 round of 100 probes per cell")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--probes", type=int, default=400)
    parser.add_argument(
        "--instructions", action="store_true", help="also count instructions per probe (valgrind)"
    )
    args = parser.parse_args()
    rounds, probes = (1, 96) if args.quick else (args.rounds, args.probes)
    ours = shutil.which("check_cert_validity_exporter") or os.path.join(
        os.path.dirname(sys.executable), "check_cert_validity_exporter"
    )
    blackbox = shutil.which(BLACKBOX)
    with tempfile.TemporaryDirectory(prefix="ccv-bench-") as directory:
        servers = {key: ThreadedTLSServer(key, directory) for key in ("ec256", "rsa2048")}
        peers = []
        port = free_port()
        peers.append(
            Peer(
                "check_cert_validity_exporter",
                [ours, "--web.listen-address", f"127.0.0.1:{port}", "--log.level", "warn"],
                port,
                "/probe?target={target}",
                b"cert_validity_probe_success{",
            )
        )
        if blackbox:
            config = os.path.join(directory, "blackbox.yml")
            with open(config, "w") as handle:
                handle.write(BLACKBOX_CONFIG)
            port = free_port()
            peers.append(
                Peer(
                    "blackbox_exporter",
                    [blackbox, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}"],
                    port,
                    "/probe?target={target}&module=tls",
                    b"\nprobe_success 1\n",
                )
            )
        else:
            print(f"{BLACKBOX} not installed: only this exporter is measured")
        results: dict[tuple[str, str, int], list[tuple[float, float]]] = {}
        try:
            for peer in peers:  # warm-up: first-use costs out of the numbers
                for server in servers.values():
                    peer.cell(f"127.0.0.1:{server.port}", 1, 16)
            for _ in range(rounds):
                for key, server in servers.items():
                    for scrapers in (1, 8):
                        for peer in peers:
                            cell = peer.cell(f"127.0.0.1:{server.port}", scrapers, probes)
                            results.setdefault((peer.name, key, scrapers), []).append(cell)
            rss_after = {peer.name: rss_mib(peer.proc.pid) for peer in peers}
            for peer in peers:  # out of the way of the counted runs (stop() again is harmless)
                peer.stop()
            counted = {}
            if args.instructions and shutil.which("valgrind"):
                for key, server in servers.items():
                    counted[key] = instructions(server, directory, (100, 400))
            elif args.instructions:
                print("valgrind not installed: no instruction counts")
        finally:
            for peer in peers:
                peer.stop()
            for server in servers.values():
                server.close()
    print(f"{rounds} rounds x {probes} probes per cell, medians; CPU is the exporter's own")
    print(f"{'exporter':<30} {'leaf':<8} {'scrapers':>8} {'probes/s':>9} {'CPU ms/probe':>13}")
    for (name, key, scrapers), cells in results.items():
        rate = statistics.median(c[0] for c in cells)
        cpu = statistics.median(c[1] for c in cells)
        print(f"{name:<30} {key:<8} {scrapers:>8} {rate:>9.0f} {cpu:>13.3f}")
    for peer in peers:
        print(
            f"{peer.name}: RSS {peer.rss_before:.1f} MiB before, "
            f"{rss_after[peer.name]:.1f} MiB after"
        )
    for key, count in counted.items():
        print(f"check_cert_validity_exporter {key}: {count / 1e6:.2f}M instructions per probe")
    if len(peers) == 2:
        print("ratios, this exporter / blackbox_exporter:")
        for key in servers:
            for scrapers in (1, 8):
                mine = results[(peers[0].name, key, scrapers)]
                theirs = results[(peers[1].name, key, scrapers)]
                cpu = statistics.median(c[1] for c in mine) / statistics.median(
                    c[1] for c in theirs
                )
                rate = statistics.median(c[0] for c in mine) / statistics.median(
                    c[0] for c in theirs
                )
                print(f"  {key} {scrapers} scraper(s): CPU {cpu:.2f}x, probes/s {rate:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
