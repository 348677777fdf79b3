"""Resources: no thread, socket or child left behind; nothing written but stdout/stderr.

In-process runs of ``main()`` compare the threads and open file descriptors
before and after; subprocess runs check for orphaned children and, under
strace, for any file opened for writing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from check_cert_validity import transport
from check_cert_validity.cli import main

import hostile
from conftest import NOW_ARG, RawServer, free_port, plugin_command, run_plugin


def open_fds() -> set[str]:
    """This process's descriptors, as "fd -> target"."""
    out = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            out.add(f"{fd} -> {os.readlink(f'/proc/self/fd/{fd}')}")
        except FileNotFoundError:
            pass  # the descriptor listdir itself used
    return out


def silent(srv: RawServer, conn: socket.socket) -> None:
    srv.wait(30)


def reset_after_hello(srv: RawServer, conn: socket.socket) -> None:
    hostile.read_record(conn)
    hostile.reset(conn)


def certificate_then_stall(srv: RawServer, conn: socket.socket) -> None:
    from test_hostile_servers import LEAF_DER

    hello = hostile.read_record(conn)
    conn.sendall(hostile.certificate_flight(hello, [LEAF_DER], done=False))
    srv.wait(30)


def plain_http(srv: RawServer, conn: socket.socket) -> None:
    conn.recv(4096)
    conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")


@pytest.mark.parametrize(
    ("behave", "host", "code"),
    [
        (None, "127.0.0.1", 0),  # a real TLS server
        (None, "localhost", 0),  # a DNS name: the resolver thread runs
        (silent, "127.0.0.1", 2),
        (reset_after_hello, "127.0.0.1", 2),
        (certificate_then_stall, "127.0.0.1", 0),
        (plain_http, "127.0.0.1", 2),
        ("refused", "127.0.0.1", 2),
    ],
)
def test_no_thread_or_socket_left_behind(
    behave: object,
    host: str,
    code: int,
    raw_server: Callable[..., RawServer],
    serve: Callable,
    leaf_factory: Callable,
    capsys: pytest.CaptureFixture[str],
) -> None:
    closer: Callable[[], None] = lambda: None  # noqa: E731
    if behave is None:
        tls = serve([leaf_factory(age=1, lifetime=30)])
        port, closer = tls.port, tls.close
    elif behave == "refused":
        port = free_port()
    else:
        raw = raw_server(behave)
        port, closer = raw.port, raw.close
    threads_before, fds_before = set(threading.enumerate()), open_fds()
    assert main(["-H", host, "-p", str(port), "-t", "0.5", "--now", NOW_ARG]) == code
    closer()  # the server's own threads and sockets end here
    assert set(threading.enumerate()) - threads_before == set()
    assert open_fds() - fds_before == set()
    capsys.readouterr()


def test_the_fd_check_sees_a_leaked_socket() -> None:
    # negative control for the comparison above
    before = open_fds()
    leaked = socket.socket()
    try:
        assert len(open_fds() - before) == 1
    finally:
        leaked.close()


def _slow_getaddrinfo(release: threading.Event) -> Callable[..., object]:
    real = socket.getaddrinfo

    def lookup(*args: object, **kwargs: object) -> object:
        release.wait(30)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    return lookup


def test_a_hung_dns_lookup_times_out_and_its_thread_ends_later(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # getaddrinfo() has no timeout; the resolver runs it in a daemon thread and
    # stops waiting at the deadline. Here the "DNS server" is an Event: the
    # only way to make libc's resolver hang without root and a fake resolv.conf.
    release = threading.Event()
    monkeypatch.setattr(socket, "getaddrinfo", _slow_getaddrinfo(release))
    start = time.monotonic()
    with pytest.raises(transport.EndpointError, match=r"^timed out after 0.3s resolving$"):
        transport.fetch(transport.Endpoint("slow.example", 443), 0.3)
    assert time.monotonic() - start < 0.3 + 0.2
    left = [t for t in threading.enumerate() if t.name == "resolve"]
    assert len(left) == 1 and left[0].daemon, "the lookup outlives the deadline, as a daemon"
    release.set()  # the lookup returns (libc gives up after its own timeout)
    left[0].join(5)
    assert not left[0].is_alive()


def test_a_hung_dns_lookup_does_not_keep_the_process_alive() -> None:
    # the daemon resolver thread must not delay exit: the process ends at -t
    script = (
        "import socket, sys, time\n"
        "socket.getaddrinfo = lambda *a, **k: time.sleep(60)\n"
        "from check_cert_validity.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", script, "-H", "slow.example", "-t", "1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (
        2,
        "CERT_VALIDITY CRITICAL - slow.example:443: timed out after 1s resolving\n",
        "",
    )
    assert time.monotonic() - start < 1 + 0.5


def sessions_of(sid: int) -> list[str]:
    """Processes (other than zombies) whose session id is ``sid``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append(stat)
    return found


@pytest.mark.parametrize("behave", [silent, plain_http])
def test_no_child_process_left_behind(
    behave: Callable, raw_server: Callable[..., RawServer]
) -> None:
    server = raw_server(behave)
    proc = subprocess.Popen(
        [*plugin_command(), "-H", "localhost", "-p", str(server.port), "-t", "1"],
        stdout=subprocess.DEVNULL,
        start_new_session=True,  # anything it forks keeps this session id
    )
    assert proc.wait(10) == 2
    assert sessions_of(proc.pid) == []


def test_the_session_scan_sees_a_leftover_child() -> None:
    # negative control: a shell that leaves a sleeping child behind is found
    proc = subprocess.Popen(["sh", "-c", "sleep 30 & exit 0"], start_new_session=True)
    proc.wait(10)
    deadline = time.monotonic() + 5
    while True:  # the forked child may not have exec'd sleep yet
        leftover = sessions_of(proc.pid)
        if any("(sleep)" in stat for stat in leftover) or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    try:
        assert len(leftover) == 1 and "(sleep)" in leftover[0]
    finally:
        for stat in leftover:
            os.kill(int(stat.split()[0]), 9)


def test_writes_nothing_to_cwd_home_or_tmp(
    tmp_path: Path, serve: Callable, leaf_factory: Callable
) -> None:
    server = serve([leaf_factory(age=1, lifetime=30)])
    dirs = {name: tmp_path / name for name in ("cwd", "home", "tmp")}
    for path in dirs.values():
        path.mkdir()
    env = {"PATH": os.environ.get("PATH", "/usr/bin"), "HOME": str(dirs["home"])}
    env["TMPDIR"] = str(dirs["tmp"])
    dirs["cwd"].chmod(0o555)
    try:
        for args in (["-p", str(server.port)], ["-p", str(free_port())], ["-p", "0"]):
            proc = subprocess.run(
                [*plugin_command(), "-H", "127.0.0.1", "-vv", *args],
                cwd=dirs["cwd"],
                env=env,
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert proc.stderr == ""
            assert proc.stdout.startswith("CERT_VALIDITY ")
    finally:
        dirs["cwd"].chmod(0o755)
    assert {name: list(path.iterdir()) for name, path in dirs.items()} == {
        "cwd": [],
        "home": [],
        "tmp": [],
    }


WRITE_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND")


@pytest.mark.skipif(not shutil.which("strace"), reason="strace is not installed")
def test_opens_no_file_for_writing(tmp_path: Path, serve: Callable, leaf_factory: Callable) -> None:
    server = serve([leaf_factory(age=1, lifetime=30)])
    args = [*plugin_command(), "-H", "localhost", "-p", str(server.port), "-vv"]
    assert run_plugin(*args[1:]).code == 0  # warm: bytecode caches exist already
    log = tmp_path / "strace.log"
    proc = subprocess.run(
        ["strace", "-f", "-qq", "-o", str(log), "-e", "trace=%file", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if proc.returncode != 0 and "ptrace" in proc.stderr:
        pytest.skip(f"strace cannot trace here: {proc.stderr.strip()[:80]}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    writes = []
    for line in log.read_text().splitlines():
        call = line.split(None, 1)[-1]
        if call.startswith(("mkdir", "unlink", "rename", "creat", "link", "symlink", "chmod")):
            writes.append(call)
        elif call.startswith("open") and any(flag in call for flag in WRITE_FLAGS):
            if '"/dev/null"' not in call and "= -1 " not in call:
                writes.append(call)
    assert writes == []


def test_strace_parsing_sees_a_write(tmp_path: Path) -> None:
    # negative control for the parser above
    if not shutil.which("strace"):
        pytest.skip("strace is not installed")
    log = tmp_path / "strace.log"
    target = tmp_path / "written"
    subprocess.run(
        [
            "strace",
            "-f",
            "-qq",
            "-o",
            str(log),
            "-e",
            "trace=%file",
            "sh",
            "-c",
            f"echo > {target}",
        ],
        check=False,
        capture_output=True,
    )
    text = log.read_text()
    if "ptrace" in text:
        pytest.skip("strace cannot trace here")
    assert any("O_CREAT" in line and str(target) in line for line in text.splitlines())
