"""Fire-and-forget UDP datagrams (for StatsD): never raises, never waits long.

The destination is resolved in a background thread as soon as a ``Sender``
is made (before the check runs), so sending afterwards costs microseconds;
``send`` waits at most ``patience`` seconds more for a slow resolver, then
drops the datagrams. IP literals are never looked up. The socket is not
connected, so an ICMP "port unreachable" from a host where nothing listens
is not reported back to it; any ``OSError`` is swallowed all the same.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Sequence

from check_cert_validity.addresses import host_port

PATIENCE = 0.01

Address = tuple[int, tuple]  # (family, sockaddr)


def _resolve(host: str, port: int, flags: int = 0) -> Address | None:
    try:
        infos = socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM, 0, flags)
    except (OSError, UnicodeError):
        return None
    family, _type, _proto, _name, sockaddr = infos[0]
    return family, sockaddr


class Sender:
    """Datagrams to one ``host:port``, resolved in the background."""

    def __init__(self, host: str, port: int) -> None:
        self.target = host_port(host, port)
        self._address = _resolve(host, port, socket.AI_NUMERICHOST)
        self._resolved = threading.Event()
        if self._address is not None:
            self._resolved.set()
        else:
            threading.Thread(target=self._lookup, args=(host, port), daemon=True).start()

    def _lookup(self, host: str, port: int) -> None:
        self._address = _resolve(host, port)
        self._resolved.set()

    def send(self, payloads: Sequence[bytes], patience: float = PATIENCE) -> str:
        """Send each payload as one datagram; return what happened, for verbose output."""
        if not self._resolved.wait(patience):
            return f"statsd: {self.target} not resolved in time, nothing sent"
        if self._address is None:
            return f"statsd: cannot resolve {self.target}, nothing sent"
        family, sockaddr = self._address
        sent = 0
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as sock:
                sock.setblocking(False)
                for payload in payloads:
                    sock.sendto(payload, sockaddr)
                    sent += 1
        except OSError as exc:
            return f"statsd: sent {sent} of {len(payloads)} datagrams to {self.target}: {exc}"
        return f"statsd: sent {sent} datagram{'' if sent == 1 else 's'} to {self.target}"
