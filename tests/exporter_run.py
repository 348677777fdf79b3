"""The installed exporter as a subprocess on a loopback port the kernel picks, for the tests.

The exporter logs the address it listens on; the helper reads it from stderr,
so no port is guessed and raced for.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from conftest import stop_process


def exporter_command() -> list[str]:
    """The installed console script next to this interpreter."""
    script = os.path.join(os.path.dirname(sys.executable), "check_cert_validity_exporter")
    if os.path.exists(script):
        return [script]
    found = shutil.which("check_cert_validity_exporter")
    assert found, "check_cert_validity_exporter is not installed (pip install '.[exporter]')"
    return [found]


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: str


class ExporterProcess:
    """One running exporter; ``get`` talks HTTP to it."""

    def __init__(
        self, directory: Path, config: str | None, flags: Iterable[str] = (), name: str = "c"
    ) -> None:
        self.config_path = directory / f"{name}.yml"
        command = [*exporter_command(), "--web.listen-address", "127.0.0.1:0", *flags]
        if config is not None:
            self.config_path.write_text(config)
            command += ["--config.file", str(self.config_path)]
        self.proc = subprocess.Popen(
            command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
        )
        self.log: list[str] = []
        self._listening = threading.Event()
        self.port = 0
        self._reader = threading.Thread(target=self._read_log, daemon=True)
        self._reader.start()
        if not self._listening.wait(20):
            self.stop()
            raise AssertionError("the exporter did not start:\n" + "\n".join(self.log))

    def _read_log(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line.rstrip("\n"))
            found = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
            if found:
                self.port = int(found.group(1))
                self._listening.set()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def request(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30,
    ) -> Answer:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, headers=dict(headers or {}))
            response = conn.getresponse()
            body = response.read().decode("utf-8")
            return Answer(response.status, dict(response.getheaders()), body)
        finally:
            conn.close()

    def get(
        self, path: str, headers: Mapping[str, str] | None = None, timeout: float = 30
    ) -> Answer:
        return self.request("GET", path, headers, timeout)

    def probe(self, target: str, module: str | None = None, **extra: str) -> Answer:
        from urllib.parse import urlencode

        query = {"target": target, **({"module": module} if module else {}), **extra}
        return self.get("/probe?" + urlencode(query))

    def hup(self) -> None:
        self.proc.send_signal(signal.SIGHUP)

    def wait_log(self, pattern: str, timeout: float = 10) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.log):
                if re.search(pattern, line):
                    return line
            time.sleep(0.05)
        raise AssertionError(f"no log line matches {pattern!r}:\n" + "\n".join(self.log))

    def stop(self) -> None:
        if self.proc.poll() is None:
            stop_process(self.proc)
        self._reader.join(5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()


def run_exporter(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """The exporter run to completion (config errors, --help, --version)."""
    return subprocess.run(
        [*exporter_command(), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def series(text: str) -> list[tuple[str, str]]:
    """``(name{labels}, value)`` for every sample line, in order."""
    found = []
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            found.append((key, value))
    return found


def value(text: str, prefix: str) -> float:
    """The value of the one sample line starting with ``prefix``."""
    matches = [float(v) for key, v in series(text) if key.startswith(prefix)]
    assert len(matches) == 1, (prefix, text)
    return matches[0]
