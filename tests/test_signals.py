"""Signals: SIGTERM (a scheduler giving up) or SIGINT ends the check at once, UNKNOWN.

The plugin is started as a subprocess against a silent loopback server with a
long ``-t``; once the server has the ClientHello (the plugin is blocked in
the handshake) the signal is sent, and the exit must follow promptly.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import pytest

import hostile
from conftest import RawServer, plugin_command

PROMPT = 1.0  # seconds from the signal to the exit (generous: CI machines are shared)


def stop_and_wait(proc: subprocess.Popen[str], signum: int) -> tuple[int, str, str, float]:
    sent = time.monotonic()
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=10)
    return proc.returncode, out, err, time.monotonic() - sent


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_during_the_handshake(signum: int, raw_server: Callable[..., RawServer]) -> None:
    hello_seen = threading.Event()

    def silent_after_hello(srv: RawServer, conn: socket.socket) -> None:
        hostile.read_record(conn)
        hello_seen.set()
        srv.wait(30)

    server = raw_server(silent_after_hello)
    proc = subprocess.Popen(
        [*plugin_command(), "-H", "127.0.0.1", "-p", str(server.port), "-t", "20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert hello_seen.wait(10), "the plugin never sent its ClientHello"
    code, out, err, seconds = stop_and_wait(proc, signum)
    name = signal.Signals(signum).name
    assert (code, out, err) == (
        3,
        f"CERT_VALIDITY UNKNOWN - interrupted by {name} before the check ended\n",
        "",
    )
    assert seconds < PROMPT


def test_sigterm_during_a_hung_dns_lookup() -> None:
    # the main thread waits for the resolver thread; the signal must still win.
    # The stand-in resolver says it started with os.write, not print: a daemon
    # thread still holding sys.stderr's lock when the interpreter shuts down
    # makes Python 3.13 abort ("could not acquire lock ... at interpreter shutdown").
    script = (
        "import os, socket, sys, time\n"
        "def hang(*a, **k):\n"
        "    os.write(2, b'resolving\\n')\n"
        "    time.sleep(60)\n"
        "socket.getaddrinfo = hang\n"
        "from check_cert_validity.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, "-H", "slow.example", "-t", "20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    assert proc.stderr.readline() == "resolving\n"
    code, out, err, seconds = stop_and_wait(proc, signal.SIGTERM)
    assert (code, out, err) == (
        3,
        "CERT_VALIDITY UNKNOWN - interrupted by SIGTERM before the check ended\n",
        "",
    )
    assert seconds < PROMPT


def test_without_the_handler_sigterm_kills_outright() -> None:
    # negative control: a process with the default disposition dies by the
    # signal (-15), so the exit code 3 above really comes from the handler
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; print('up', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "up\n"
    code, _out, _err, _seconds = stop_and_wait(proc, signal.SIGTERM)
    assert code == -signal.SIGTERM
