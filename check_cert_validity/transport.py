"""The only place with sockets: resolve, connect, pump handshake bytes.

One deadline (from ``-t``) covers resolution, connecting to each address in
turn, any plaintext preamble and the whole handshake: every blocking call gets
only the time that is left, so a peer trickling one byte a second is given up
on at the deadline, not after many per-read timeouts.
"""

# Annotations are evaluated here (no ``from __future__ import annotations``):
# typing.NamedTuple compiles every annotation given as a string when the class
# is made, and every check pays for that at start-up.

import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from cryptography import x509

from check_cert_validity.addresses import host_port, ip_literal

if TYPE_CHECKING:
    from check_cert_validity.clientcert import ClientIdentity
    from check_cert_validity.probe import HandshakeProbe

RECV_SIZE = 16384
# socket.timeout became an alias of TimeoutError only in Python 3.10.
_TIMEOUTS = (TimeoutError, socket.timeout)


class EndpointError(Exception):
    """The endpoint could not give us a certificate (the peer's or network's fault)."""


class Endpoint(NamedTuple):
    """Where to connect and what to ask for."""

    host: str
    port: int = 443
    sni: str | None = None
    family: int = 0  # 0 any, 4 or 6
    address: str | None = None  # connect here instead of resolving host

    @property
    def label(self) -> str:
        """``host:port`` with IPv6 literals bracketed."""
        return host_port(self.host, self.port)


class Fetched(NamedTuple):
    """What one handshake yielded."""

    certificates: tuple[x509.Certificate, ...]
    presented: tuple[x509.Certificate, ...]
    peer: str
    tls_version: str
    cipher: str
    handshake_error: str | None
    timings: dict[str, float] | None = None  # cumulative seconds per stage
    skipped: tuple[str, ...] = ()  # addresses tried before ``peer``, with why


class Deadline:
    """Seconds left until one fixed monotonic instant."""

    def __init__(
        self,
        seconds: float,
        clock: Callable[[], float] = time.monotonic,
        start: float | None = None,
    ) -> None:
        self._clock = clock
        self.start = clock() if start is None else start
        self._end = self.start + seconds

    def left(self) -> float:
        """Seconds remaining; raises TimeoutError once none are left."""
        remaining = self._end - self._clock()
        if remaining <= 0:
            raise TimeoutError
        return remaining

    def elapsed(self) -> float:
        """Seconds since the deadline was set."""
        return self._clock() - self.start


class Channel:
    """A connected socket whose every read and write respects the deadline."""

    def __init__(self, sock: socket.socket, deadline: Deadline) -> None:
        self.sock = sock
        self.deadline = deadline

    def send(self, data: bytes) -> None:
        """Send all of ``data`` before the deadline."""
        view = memoryview(data)
        while view:
            self.sock.settimeout(self.deadline.left())
            sent = self.sock.send(view)
            view = view[sent:]

    def recv(self, size: int = RECV_SIZE) -> bytes:
        """Receive up to ``size`` bytes before the deadline (``b""`` at EOF)."""
        self.sock.settimeout(self.deadline.left())
        return self.sock.recv(size)


Preamble = Callable[[Channel], None]


def resolve(endpoint: Endpoint, deadline: Deadline) -> list[tuple[int, tuple]]:
    """Addresses to try, in resolver order, honouring -4/-6 and --resolve."""
    family = {4: socket.AF_INET, 6: socket.AF_INET6}.get(endpoint.family, socket.AF_UNSPEC)
    target = endpoint.address or endpoint.host
    literal = ip_literal(target)
    flags = socket.AI_NUMERICHOST if literal else 0
    host = literal or target
    if literal:
        # No DNS for IP literals; only the family has to agree.
        is_v6 = ":" in literal
        if (endpoint.family == 4 and is_v6) or (endpoint.family == 6 and not is_v6):
            raise EndpointError(f"{literal} is not an IPv{endpoint.family} address")
        return _getaddrinfo(host, endpoint.port, family, flags)

    # getaddrinfo has no timeout: run it in a daemon thread and stop waiting
    # at the deadline (the thread dies with the process).
    box: dict[str, object] = {}

    def lookup() -> None:
        try:
            box["ok"] = _getaddrinfo(host, endpoint.port, family, flags)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc

    worker = threading.Thread(target=lookup, name="resolve", daemon=True)
    worker.start()
    worker.join(deadline.left())
    if worker.is_alive():
        raise TimeoutError
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["ok"]  # type: ignore[return-value]


def _getaddrinfo(host: str, port: int, family: int, flags: int) -> list[tuple[int, tuple]]:
    try:
        # an ASCII name as bytes: a str would load the idna codec (start-up time)
        query = host.encode("ascii") if host.isascii() else host
        infos = socket.getaddrinfo(query, port, family, socket.SOCK_STREAM, 0, flags)
    except socket.gaierror as exc:
        raise EndpointError(f"cannot resolve {host!r}: {exc.strerror}") from None
    seen: list[tuple[int, tuple]] = []
    for fam, _type, _proto, _name, sockaddr in infos:
        if (fam, sockaddr) not in seen:
            seen.append((fam, sockaddr))
    if not seen:
        raise EndpointError(f"cannot resolve {host!r}: no address")
    return seen


def connect(
    addresses: list[tuple[int, tuple]], deadline: Deadline
) -> tuple[socket.socket, str, tuple[str, ...]]:
    """Connect to the first address that answers, in order, before the deadline.

    Each address may use an equal share of the time left, so one that drops
    SYNs cannot starve the rest. Returns the socket, the peer that answered
    and ``peer: reason`` for each address that did not.
    """
    failures: list[str] = []
    for index, (family, sockaddr) in enumerate(addresses):
        share = deadline.left() / (len(addresses) - index)
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(share)
            sock.connect(sockaddr)
        except _TIMEOUTS:
            sock.close()
            if index == len(addresses) - 1:
                raise TimeoutError from None
            failures.append(f"{host_port(sockaddr[0], sockaddr[1])}: timed out")
            continue
        except OSError as exc:
            sock.close()
            failures.append(f"{host_port(sockaddr[0], sockaddr[1])}: {os_reason(exc)}")
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, host_port(sockaddr[0], sockaddr[1]), tuple(failures)
    if len(failures) == 1:
        raise EndpointError(failures[0].split(": ", 1)[1])
    raise EndpointError("; ".join(failures))


def os_reason(exc: OSError) -> str:
    """How plugin text names a socket error (``connection refused``, say)."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset by peer"
    return (exc.strerror or str(exc)).lower()


def handshake(channel: Channel, probe: "HandshakeProbe") -> None:
    """Pump bytes between the socket and the probe until it is finished."""
    while True:
        outgoing = probe.data_to_send()
        if outgoing:
            try:
                channel.send(outgoing)
            except BrokenPipeError:
                probe.receive_data(b"")  # the peer closed first
            except ConnectionResetError:
                if not probe.certificates:
                    raise  # fetch() names it: "connection reset by peer ..."
                probe.receive_data(b"")
        if probe.finished:
            return
        try:
            data = channel.recv()
        except ConnectionResetError:
            if not probe.certificates:
                raise  # a TCP RST before any certificate: say so, not "closed"
            data = b""
        probe.receive_data(data)


def fetch(
    endpoint: Endpoint,
    timeout: float,
    preamble: Preamble | None = None,
    *,
    alpn: bytes | None = None,
    identity: "ClientIdentity | None" = None,
    started: float | None = None,
) -> Fetched:
    """Connect, run the preamble and the handshake, return the certificates.

    ``started`` (a ``time.monotonic()`` value) is when the plugin started: the
    deadline counts from there, so that imports are inside ``-t`` too and the
    plugin's own deadline fires before a scheduler's kill.
    """
    # The TLS library loads here, not with the module: an HTTP download
    # (httpfetch) uses the sockets alone.
    from check_cert_validity.probe import HandshakeProbe

    deadline = Deadline(timeout, start=started)
    timings: dict[str, float] = {}
    stage = "resolving"
    sock: socket.socket | None = None
    probe: HandshakeProbe | None = None
    try:
        addresses = resolve(endpoint, deadline)
        timings["resolve"] = deadline.elapsed()
        stage = "connecting"
        sock, peer, skipped = connect(addresses, deadline)
        timings["connect"] = deadline.elapsed()
        channel = Channel(sock, deadline)
        if preamble is not None:
            stage = "in the STARTTLS preamble"
            preamble(channel)
            timings["preamble"] = deadline.elapsed()
        stage = "during the TLS handshake"
        probe = HandshakeProbe(endpoint.sni, alpn=alpn, identity=identity)
        handshake(channel, probe)
        timings["handshake"] = deadline.elapsed()
        try:
            bye = probe.close_notify()
            if bye:
                sock.setblocking(False)
                sock.send(bye)
        except OSError:
            pass
    except _TIMEOUTS:
        if probe is not None and probe.certificates:
            return _result(probe, peer, f"timed out after {timeout:g}s", timings, skipped)
        raise EndpointError(f"timed out after {timeout:g}s {stage}") from None
    except OSError as exc:
        if probe is not None and probe.certificates:
            return _result(probe, peer, os_reason(exc), timings, skipped)
        raise EndpointError(f"{os_reason(exc)} {stage}") from None
    finally:
        if sock is not None:
            sock.close()
    if not probe.certificates:
        raise EndpointError(probe.explain_failure())
    return _result(probe, peer, probe.error, timings, skipped)


def _result(
    probe: "HandshakeProbe",
    peer: str,
    error: str | None,
    timings: dict[str, float],
    skipped: tuple[str, ...],
) -> Fetched:
    return Fetched(
        certificates=probe.certificates,
        presented=probe.presented if probe.completed else probe.certificates,
        peer=peer,
        tls_version=probe.tls_version,
        cipher=probe.cipher,
        handshake_error=error,
        timings=timings,
        skipped=skipped,
    )
