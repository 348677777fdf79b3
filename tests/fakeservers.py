"""A scripted plaintext-then-TLS server on loopback, for STARTTLS tests.

The script is a list of steps: ``("send", bytes)`` writes bytes,
``("expect", bytes)`` reads exactly that many bytes and records any
difference (then hangs up, so the client fails), ``("tls", None)`` starts a
server-side TLS handshake serving the given chain. The bytes are written out
in the tests by hand from the RFCs, independently of the client code.
"""

from __future__ import annotations

import socket
import ssl
import tempfile
import threading
from collections.abc import Sequence

from check_cert_validity.certfactory import Issued
from check_cert_validity.loopback import write_pem

from conftest import loopback_listener

Step = tuple[str, bytes | None]


class ScriptedServer:
    """Runs ``script`` for every connection; use as a context manager."""

    def __init__(
        self,
        script: Sequence[Step],
        chain: Sequence[Issued],
        *,
        host: str = "127.0.0.1",
        alpn: list[str] | None = None,
    ) -> None:
        self.script = list(script)
        self._dir = tempfile.TemporaryDirectory(prefix="ccv-starttls-")
        cert, key = write_pem(self._dir.name, "leaf", chain)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        if alpn:
            self.context.set_alpn_protocols(alpn)
        self.mismatches: list[tuple[bytes, bytes]] = []
        self.handshakes = 0
        self.alpn_seen: list[str | None] = []
        self._listener = loopback_listener(host)
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    self._run(conn)
                except (OSError, ssl.SSLError):
                    pass

    def _run(self, conn: socket.socket) -> None:
        for action, data in self.script:
            if action == "send":
                assert data is not None
                conn.sendall(data)
            elif action == "expect":
                assert data is not None
                got = b""
                while len(got) < len(data):
                    chunk = conn.recv(len(data) - len(got))
                    if not chunk:
                        break
                    got += chunk
                if got != data:
                    self.mismatches.append((data, got))
                    return
            elif action == "tls":
                with self.context.wrap_socket(conn, server_side=True) as tls:
                    self.handshakes += 1
                    self.alpn_seen.append(tls.selected_alpn_protocol())
                    tls.recv(1)
                return

    def close(self) -> None:
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        self._thread.join(5)
        self._dir.cleanup()

    def __enter__(self) -> ScriptedServer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
