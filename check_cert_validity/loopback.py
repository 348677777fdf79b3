"""Throwaway TLS servers on loopback, for the demo and the tests.

A ``TLSServer`` serves a given chain from a thread on ``127.0.0.1`` or
``::1``, port 0 (the kernel picks), until closed. Not used by the check.
"""

from __future__ import annotations

import os
import socket
import ssl
import tempfile
import threading
from collections.abc import Sequence

from check_cert_validity.certfactory import Issued


def write_pem(directory: str, name: str, chain: Sequence[Issued]) -> tuple[str, str]:
    """Write ``chain`` (leaf first) and the leaf's key; return both paths."""
    cert_path = os.path.join(directory, f"{name}.crt")
    key_path = os.path.join(directory, f"{name}.key")
    with open(cert_path, "wb") as handle:
        handle.write(b"".join(item.cert_pem() for item in chain))
    with open(key_path, "wb") as handle:
        handle.write(chain[0].key_pem())
    return cert_path, key_path


class TLSServer:
    """A threaded stdlib-ssl server; use as a context manager."""

    def __init__(
        self,
        chain: Sequence[Issued],
        *,
        host: str = "127.0.0.1",
        require_client_cert: bool = False,
        client_ca: Issued | None = None,
        max_version: ssl.TLSVersion | None = None,
        min_version: ssl.TLSVersion | None = None,
        ciphers: str | None = None,
        sni_chains: dict[str, Sequence[Issued]] | None = None,
    ) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="ccv-")
        self.context = self._context(chain, "default", ciphers, min_version, max_version)
        # Loaded once, here: replacing this file later is a rotation without a reload.
        self.cert_path = os.path.join(self._dir.name, "default.crt")
        if require_client_cert:
            self.context.verify_mode = ssl.CERT_REQUIRED
            ca = client_ca.cert_pem().decode() if client_ca else chain[-1].cert_pem().decode()
            self.context.load_verify_locations(cadata=ca)
        self._sni = {
            name: self._context(other, f"sni{i}", ciphers, min_version, max_version)
            for i, (name, other) in enumerate((sni_chains or {}).items())
        }
        self.context.sni_callback = self._pick
        self.seen_sni: list[str | None] = []
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, 0))
        self._listener.listen(16)
        self.host = host
        self.port = self._listener.getsockname()[1]
        self.handshake_errors: list[str] = []
        self._thread = threading.Thread(target=self._serve, name="tls-server", daemon=True)
        self._thread.start()

    def _context(
        self,
        chain: Sequence[Issued],
        name: str,
        ciphers: str | None,
        min_version: ssl.TLSVersion | None,
        max_version: ssl.TLSVersion | None,
    ) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if ciphers:
            context.set_ciphers(ciphers)
        if min_version:
            context.minimum_version = min_version
        if max_version:
            context.maximum_version = max_version
        cert_path, key_path = write_pem(self._dir.name, name, chain)
        context.load_cert_chain(cert_path, key_path)
        return context

    def _pick(self, sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        self.seen_sni.append(name)
        if name in self._sni:
            sock.context = self._sni[name]

    def _serve(self) -> None:
        while True:
            try:
                conn, _addr = self._listener.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    with self.context.wrap_socket(conn, server_side=True) as tls:
                        tls.recv(1)
                except (OSError, ssl.SSLError) as exc:
                    self.handshake_errors.append(str(exc))

    def close(self) -> None:
        """Stop accepting and wait for the thread."""
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes accept() on Linux
        except OSError:
            pass
        self._listener.close()
        self._thread.join(5)
        self._dir.cleanup()

    def __enter__(self) -> TLSServer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
