"""Whole-process cost of one check, beside the import floor and peer plugins.

Run after ``pip install .``::

    python bench/bench.py            # 30 interleaved runs of each command
    python bench/bench.py --quick    # 3 runs, for CI (numbers not asserted)

It serves a loopback TLS endpoint, then times whole-process runs of
``python -c pass``, the import floor of any plugin built on our three
libraries, ``check_cert_validity`` and, where installed, ``check_http -C``
and ``check_ssl_cert`` against the same endpoint. Runs are interleaved (one
of each per round) so machine drift hits all alike. Per command it prints
median/min/max wall ms, median CPU ms and peak RSS (MiB), then the ratios,
then how time and memory grow with a 1-, 10- and 100-certificate chain.
Standard library only (plus the plugin's own test helpers for certificates).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from check_cert_validity.certfactory import Issued, issue
from check_cert_validity.loopback import TLSServer

PLUGINS = "/usr/lib/nagios/plugins"
FLOOR = "import OpenSSL.SSL, cryptography.x509, nagiosplugin"
# The plugin switches the cyclic garbage collector off for its short life
# (console.main); this floor does the same, for a like-for-like ratio.
FLOOR_NO_GC = "import gc; gc.disable(); " + FLOOR
FLOORS = ("import floor (3 libraries)", "import floor, collector off")


# A child forked from this (large) Python process reports this process's RSS
# as its own peak (the kernel keeps the pre-exec high-water mark), so peak RSS
# comes from GNU time, which forks from a small process. Its overhead is well
# under a millisecond and the same for every command.
GNU_TIME = "/usr/bin/time"


def run_once(command: list[str]) -> tuple[float, float, float, int]:
    """Wall ms, CPU ms, peak RSS MiB (NaN without GNU time) and exit code."""
    rss_file = f"/tmp/ccv-bench-rss-{os.getpid()}"
    wrapped = command
    if os.path.exists(GNU_TIME):
        wrapped = [GNU_TIME, "-q", "-f", "%M", "-o", rss_file, *command]
    start = time.perf_counter()
    proc = subprocess.Popen(wrapped, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = (time.perf_counter() - start) * 1000
    cpu = (usage.ru_utime + usage.ru_stime) * 1000
    rss = float("nan")
    if wrapped is not command:
        with open(rss_file) as handle:
            rss = int(handle.read().split()[-1]) / 1024
        os.unlink(rss_file)
    return wall, cpu, rss, os.waitstatus_to_exitcode(status)


def measure(commands: dict[str, list[str]], runs: int, warmup: int = 2) -> dict[str, list[tuple]]:
    """Interleaved runs: one of each command per round."""
    samples: dict[str, list[tuple]] = {name: [] for name in commands}
    for round_no in range(warmup + runs):
        for name, command in commands.items():
            sample = run_once(command)
            if round_no >= warmup:
                samples[name].append(sample)
    return samples


def summary(samples: list[tuple]) -> dict[str, float]:
    walls = [s[0] for s in samples]
    return {
        "median": statistics.median(walls),
        "min": min(walls),
        "max": max(walls),
        "cpu": statistics.median(s[1] for s in samples),
        "rss": max(s[2] for s in samples),
        "exit": samples[-1][3],
    }


def table(results: dict[str, dict[str, float]]) -> None:
    print(f"{'command':<34} {'median':>8} {'min':>8} {'max':>8} {'cpu':>8} {'peakRSS':>8} exit")
    for name, row in results.items():
        print(
            f"{name:<34} {row['median']:>6.1f}ms {row['min']:>6.1f}ms {row['max']:>6.1f}ms "
            f"{row['cpu']:>6.1f}ms {row['rss']:>5.1f}MiB {row['exit']:>4}"
        )


def instructions(command: list[str]) -> int:
    """CPU instructions one run executes (callgrind): repeatable on a shared machine."""
    out = f"/tmp/ccv-bench-callgrind-{os.getpid()}"
    proc = subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *command],
        capture_output=True,
        text=True,
        check=False,
    )
    os.unlink(out)
    for line in proc.stderr.splitlines():
        if "Collected :" in line:
            return int(line.split()[-1])
    raise RuntimeError(f"valgrind printed no count: {proc.stderr[-200:]}")


def chain(length: int, now: datetime) -> list[Issued]:
    """A leaf and ``length - 1`` intermediates (EC P-256, small certificates)."""
    start = now - timedelta(days=1)
    issuer = issue(
        common_name="Bench Root", ca=True, not_before=start, not_after=start + timedelta(days=3650)
    )
    cas = []
    for depth in range(length - 1):
        issuer = issue(
            common_name=f"Bench Intermediate {depth}",
            ca=True,
            issuer=issuer,
            not_before=start,
            not_after=start + timedelta(days=365),
        )
        cas.append(issuer)
    leaf = issue(
        common_name="bench.internal",
        issuer=issuer,
        not_before=start,
        not_after=start + timedelta(days=30),
    )
    return [leaf, *reversed(cas)]


def plugin_command() -> list[str]:
    beside = os.path.join(os.path.dirname(sys.executable), "check_cert_validity")
    return [beside] if os.path.exists(beside) else [sys.executable, "-m", "check_cert_validity"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="3 runs, 1 warm-up (for CI)")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count instructions with valgrind (slow, but immune to a noisy machine)",
    )
    args = parser.parse_args()
    runs = 3 if args.quick else args.runs
    now = datetime.now(UTC)
    plugin = plugin_command()
    has_chain = (
        "--chain"
        in subprocess.run([*plugin, "--help"], capture_output=True, text=True, check=False).stdout
    )

    with TLSServer(chain(2, now)) as server:
        port = str(server.port)
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "import floor (3 libraries)": [sys.executable, "-c", FLOOR],
            "import floor, collector off": [sys.executable, "-c", FLOOR_NO_GC],
            "check_cert_validity": [*plugin, "-H", "127.0.0.1", "-p", port],
            "check_cert_validity --help": [*plugin, "--help"],
        }
        check_http = os.path.join(PLUGINS, "check_http")
        if os.path.exists(check_http):
            commands["check_http -C"] = [
                check_http,
                "-H",
                "127.0.0.1",
                "-p",
                port,
                "-S",
                "-C",
                "20,10",
            ]
        check_ssl_cert = os.path.join(PLUGINS, "check_ssl_cert")
        if os.path.exists(check_ssl_cert) and shutil.which("host"):
            commands["check_ssl_cert"] = [
                check_ssl_cert,
                "-H",
                "127.0.0.1",
                "-p",
                port,
                "--ignore-sct",
                "-w",
                "20",
                "-c",
                "10",
            ]
        ssl_runs = max(3, runs // 3)  # ~1.3 s a run: fewer rounds for it
        results = {
            name: summary(s)
            for name, s in measure(
                {k: v for k, v in commands.items() if k != "check_ssl_cert"}, runs
            ).items()
        }
        if "check_ssl_cert" in commands:
            slow = measure(
                {
                    "check_ssl_cert": commands["check_ssl_cert"],
                    "check_cert_validity (paired)": commands["check_cert_validity"],
                },
                ssl_runs,
                warmup=1,
            )
            results.update({name: summary(s) for name, s in slow.items()})
        counted = {}
        if args.instructions and shutil.which("valgrind"):
            for name in (*FLOORS, "check_cert_validity"):
                counted[name] = instructions(commands[name])

    print(
        f"# {runs} interleaved runs, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    )
    table(results)
    ours = results["check_cert_validity"]["median"]
    floor = results["import floor (3 libraries)"]["median"]
    print(f"\nplugin / import floor: {ours / floor:.2f}x (target <= 1.10x)")
    no_gc = results["import floor, collector off"]["median"]
    print(f"plugin / import floor with the collector off, as in the plugin: {ours / no_gc:.2f}x")
    cpu = {name: results[name]["cpu"] for name in ("check_cert_validity", *FLOORS)}
    print(
        "the same in median CPU time: "
        + ", ".join(f"{cpu['check_cert_validity'] / cpu[name]:.2f}x" for name in FLOORS)
    )
    print(f"plugin peak RSS: {results['check_cert_validity']['rss']:.1f} MiB (target <= 40 MiB)")
    if "check_http -C" in results:
        print(f"plugin / check_http -C: {ours / results['check_http -C']['median']:.1f}x")
    if "check_ssl_cert" in results:
        paired = results["check_cert_validity (paired)"]["median"]
        print(
            f"check_ssl_cert / plugin: {results['check_ssl_cert']['median'] / paired:.1f}x "
            "(target >= 7x)"
        )

    if counted:
        floor_count = counted["import floor (3 libraries)"]
        no_gc_count = counted["import floor, collector off"]
        ours_count = counted["check_cert_validity"]
        print(
            f"instructions (callgrind): floor {floor_count / 1e6:.1f}M, floor with the "
            f"collector off {no_gc_count / 1e6:.1f}M, plugin {ours_count / 1e6:.1f}M; "
            f"plugin / floor {ours_count / floor_count:.3f}x, plugin / floor with the "
            f"collector off {ours_count / no_gc_count:.3f}x"
        )

    print("\n# cost as the presented chain grows")
    scaling: dict[str, list[str]] = {}
    servers = []
    try:
        for length in (1, 10, 100):
            server = TLSServer(chain(length, now))
            servers.append(server)
            base = [*plugin, "-H", "127.0.0.1", "-p", str(server.port)]
            scaling[f"chain {length:>3}"] = base
            scaling[f"chain {length:>3} -v"] = [*base, "-v"]
            if has_chain:
                scaling[f"chain {length:>3} --chain"] = [*base, "--chain"]
        table({name: summary(s) for name, s in measure(scaling, max(3, runs // 3)).items()})
    finally:
        for server in servers:
            server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
