"""One probe on the event loop: resolve, check ``allowed_targets``, connect, handshake.

The handshake is the plugin's sans-IO ``HandshakeProbe`` fed from a
non-blocking socket by the event loop, so many probes run at once without a
thread each; every probe of a module shares the module's ``SSL.Context``.
One deadline covers the whole probe, as ``-t`` does for the plugin, and the
error texts are the plugin's.

STARTTLS modules run the plugin's own blocking ``transport.fetch`` (its
preambles speak over a blocking channel) in a worker thread, connected to
the address this module already resolved and permitted, with the time that
is left: the thread ends at that deadline by itself, since every read in it
is bounded by it.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import time
from concurrent.futures import Executor
from dataclasses import dataclass, field

from check_cert_validity import acquire, transport
from check_cert_validity.addresses import host_port, ip_literal
from check_cert_validity.certinfo import load_der
from check_cert_validity.exporter import groups
from check_cert_validity.exporter.config import Module
from check_cert_validity.exporter.known import KnownCertificates
from check_cert_validity.exporter.targets import Allowed
from check_cert_validity.judgement import Acquired, Unreadable
from check_cert_validity.probe import HandshakeProbe

Addresses = list[tuple[int, tuple]]


class Refused(Exception):
    """The target is outside ``allowed_targets`` (HTTP 403); nothing was connected."""


@dataclass
class Where:
    """The endpoint as the plugin would name it, and the probe's log lines."""

    host: str
    port: int
    sni: str | None
    started: float = field(default_factory=time.monotonic)
    lines: list[str] = field(default_factory=list)
    debug: bool = False
    shown: str | None = None  # a file's or a URL's label, which is no host:port

    def log(self, message: str) -> None:
        """A line for ``&debug=true`` (kept only when asked for: probes are many)."""
        if self.debug:
            self.lines.append(f"{time.monotonic() - self.started:8.4f}s {message}")

    @property
    def label(self) -> str:
        """``host:port`` (or the file, or the URL) as plugin text shows it."""
        return self.shown if self.shown is not None else host_port(self.host, self.port)


def where(module: Module, host: str, port: int | None, debug: bool = False) -> Where:
    """Port and SNI defaults as the plugin applies them (``connection.plan``)."""
    if port is None:
        port = 443
        if module.starttls:
            from check_cert_validity.starttls import PROTOCOLS

            port = PROTOCOLS[module.starttls].port
    sni = None if module.no_sni else (module.sni or (None if ip_literal(host) else host))
    return Where(host, port, sni, debug=debug)


async def _resolve(module: Module, spot: Where) -> Addresses:
    if ip_literal(spot.host):  # no DNS: the plugin's own checks, without blocking
        return list(_literal_addresses(spot.host, spot.port, spot.sni, module.family))
    family = {4: socket.AF_INET, 6: socket.AF_INET6}.get(module.family, socket.AF_UNSPEC)
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(spot.host, spot.port, family=family, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise transport.EndpointError(f"cannot resolve {spot.host!r}: {exc.strerror}") from None
    found: Addresses = []
    for fam, _type, _proto, _name, sockaddr in infos:
        if (fam, sockaddr) not in found:
            found.append((fam, sockaddr))
    if not found:
        raise transport.EndpointError(f"cannot resolve {spot.host!r}: no address")
    return found


@functools.lru_cache(maxsize=1024)  # by plain values: no Endpoint is built for a hit
def _literal_addresses(
    host: str, port: int, sni: str | None, family: int
) -> tuple[tuple[int, tuple], ...]:
    """An IP literal's addresses: the same every time, so worked out once (errors are not kept)."""
    endpoint = transport.Endpoint(host, port, sni, family)
    return tuple(transport.resolve(endpoint, transport.Deadline(1.0)))


def permitted(allowed: Allowed | None, spot: Where, addresses: Addresses) -> Addresses:
    """The addresses this target may be connected to; raises Refused when none."""
    if allowed is None or allowed.permits_name(spot.host, spot.port):
        return addresses
    kept = [item for item in addresses if allowed.permits_address(item[1][0], spot.port)]
    if not kept:
        shown = ", ".join(str(item[1][0]) for item in addresses[:4])
        raise Refused(f"target {spot.label} ({shown}) is outside allowed_targets")
    return kept


async def _sock_connect(sock: socket.socket, sockaddr: tuple) -> None:
    """``loop.sock_connect`` without its second look at an address that is already one
    (a coroutine and an address parse less a probe); its error for a failed connect."""
    try:
        sock.connect(sockaddr)
        return
    except (BlockingIOError, InterruptedError):
        pass
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    fd = sock.fileno()

    def writable() -> None:
        if done.done():
            return
        error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            done.set_exception(OSError(error, f"Connect call failed {sockaddr}"))
        else:
            done.set_result(None)

    loop.add_writer(fd, writable)
    try:
        await done
    finally:
        loop.remove_writer(fd)


async def _connect(addresses: Addresses, end: float, spot: Where) -> tuple[socket.socket, str]:
    """The first address that accepts, each given an equal share of the time left."""
    loop = asyncio.get_running_loop()
    failures: list[str] = []
    for index, (family, sockaddr) in enumerate(addresses):
        share = (end - loop.time()) / (len(addresses) - index)
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        peer = host_port(sockaddr[0], sockaddr[1])
        try:
            if index == len(addresses) - 1:
                # its share is all the time left: the probe's own deadline bounds it,
                # and a probe (mostly of one address) is spared a timer of its own
                await _sock_connect(sock, sockaddr)
            else:
                async with asyncio.timeout(share):
                    await _sock_connect(sock, sockaddr)
        except TimeoutError:
            sock.close()
            if index == len(addresses) - 1:
                raise
            failures.append(f"{peer}: timed out")
            continue
        except OSError as exc:
            sock.close()
            failures.append(f"{peer}: {transport.os_reason(exc)}")
            continue
        except asyncio.CancelledError:  # the probe's deadline came first (or a shutdown)
            sock.close()
            raise
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if spot.debug:  # the line is not even made for ordinary probes
            spot.log(f"connected to {peer}")
        return sock, peer
    if len(failures) == 1:
        raise transport.EndpointError(failures[0].split(": ", 1)[1])
    raise transport.EndpointError("; ".join(failures))


async def _handshake(sock: socket.socket, probe: HandshakeProbe) -> None:
    """``transport.handshake``'s loop, with the event loop doing the waiting."""
    loop = asyncio.get_running_loop()
    while True:
        outgoing = probe.data_to_send()
        if probe.finished:
            outgoing += probe.close_notify()
        if outgoing:
            try:
                await loop.sock_sendall(sock, outgoing)
            except BrokenPipeError:
                probe.receive_data(b"")
            except ConnectionResetError:
                if not probe.certificates:
                    raise
                probe.receive_data(b"")
        if probe.finished:
            return
        try:
            data = await loop.sock_recv(sock, transport.RECV_SIZE)
        except ConnectionResetError:
            if not probe.certificates:
                raise
            data = b""
        probe.receive_data(data)


def _fetched(
    probe: HandshakeProbe, peer: str, error: str | None, timings: dict[str, float], whole: bool
) -> transport.Fetched:
    # the chain as presented is read (parsed anew) only where it is judged or shown
    return transport.Fetched(
        certificates=probe.certificates,
        presented=probe.presented if probe.completed and whole else probe.certificates,
        peer=peer,
        tls_version=probe.tls_version,
        cipher=probe.cipher,
        handshake_error=error,
        timings=timings,
    )


async def fetch(
    module: Module,
    spot: Where,
    seconds: float,
    allowed: Allowed | None,
    executor: Executor | None = None,
    refusing: groups.Remembered | None = None,
    known: KnownCertificates | None = None,
) -> transport.Fetched:
    """The endpoint's certificates within ``seconds``; raises EndpointError or Refused.

    ``refusing`` remembers the endpoints that refused the classical groups'
    ClientHello; those get OpenSSL's default groups (``groups.py``).
    ``known`` parses each distinct certificate once (``known.py``).
    """
    whole = _whole_chain(module, spot)
    parse = known.parse if known is not None else load_der
    loop = asyncio.get_running_loop()
    start = loop.time()
    end = start + seconds
    timings: dict[str, float] = {}
    stage = "resolving"
    probe: HandshakeProbe | None = None
    sock: socket.socket | None = None
    peer = ""
    endpoint = (spot.label, spot.sni)
    fallback = module.default_groups_context
    context = module.context
    if refusing is not None and endpoint in refusing:
        context = fallback
    try:
        async with asyncio.timeout_at(end):
            addresses = permitted(allowed, spot, await _resolve(module, spot))
            timings["resolve"] = loop.time() - start
            if spot.debug:
                shown = ", ".join(str(a[1][0]) for a in addresses)
                spot.log(f"resolved {spot.host} to {shown}")
            if module.starttls and _has_preamble(module.starttls):
                stage = "in the STARTTLS preamble"
                return await _fetch_in_thread(module, spot, addresses, end, executor)
            while True:
                stage = "connecting"
                sock, peer = await _connect(addresses, end, spot)
                timings["connect"] = loop.time() - start
                stage = "during the TLS handshake"
                probe = HandshakeProbe(spot.sni, context=context, parse=parse)
                await _handshake(sock, probe)
                timings["handshake"] = loop.time() - start
                if spot.debug:
                    done = f"{probe.tls_version} {probe.cipher} {probe.error or ''}"
                    spot.log(f"handshake done: {done}")
                if not probe.refused_hello or fallback is None or context is fallback:
                    break
                # once, and remembered: it may accept only OpenSSL's default (hybrid) groups
                spot.log("the ClientHello with classical groups was refused: again with OpenSSL's")
                if refusing is not None:
                    refusing.add(endpoint)
                context = fallback
                sock.close()
                probe.release()
                sock = probe = None
    except TimeoutError:
        if probe is not None and probe.certificates:
            return _fetched(probe, peer, f"timed out after {seconds:g}s", timings, whole)
        raise transport.EndpointError(f"timed out after {seconds:g}s {stage}") from None
    except OSError as exc:
        if probe is not None and probe.certificates:
            return _fetched(probe, peer, transport.os_reason(exc), timings, whole)
        raise transport.EndpointError(f"{transport.os_reason(exc)} {stage}") from None
    finally:
        if sock is not None:
            sock.close()
        if probe is not None:
            probe.release()
    assert probe is not None
    if not probe.certificates:
        raise transport.EndpointError(probe.explain_failure())
    return _fetched(probe, peer, probe.error, timings, whole)


def _whole_chain(module: Module, spot: Where) -> bool:
    """The chain beyond the leaf is read when judged (chain: true) or shown (&debug=true)."""
    return module.policy.whole_chain or spot.debug


def _has_preamble(name: str) -> bool:
    from check_cert_validity.starttls import PROTOCOLS

    return PROTOCOLS[name].runner is not None


async def _fetch_in_thread(
    module: Module, spot: Where, addresses: Addresses, end: float, executor: Executor | None
) -> transport.Fetched:
    from check_cert_validity import clientcert, starttls

    assert module.starttls is not None
    loop = asyncio.get_running_loop()
    # the first permitted address, as the plugin's --resolve would connect to it
    endpoint = transport.Endpoint(spot.host, spot.port, spot.sni, module.family, addresses[0][1][0])
    preamble = starttls.preamble(module.starttls, spot.sni or spot.host)
    identity = (
        clientcert.load(module.client_cert, module.client_key) if module.client_cert else None
    )
    protocol = starttls.PROTOCOLS[module.starttls]
    left = max(end - loop.time(), 0.001)

    def run() -> transport.Fetched:
        return transport.fetch(endpoint, left, preamble, alpn=protocol.alpn, identity=identity)

    spot.log(f"STARTTLS {module.starttls} in a worker thread, {left:.3f}s left")
    # shielded: the thread keeps its own deadline; the loop just stops waiting
    return await asyncio.shield(loop.run_in_executor(executor, run))


async def acquired(
    module: Module,
    spot: Where,
    seconds: float,
    allowed: Allowed | None,
    executor: Executor | None = None,
    refusing: groups.Remembered | None = None,
    known: KnownCertificates | None = None,
) -> Acquired:
    """What the plugin's acquisition step would have for this endpoint; raises Refused."""
    try:
        got = await fetch(module, spot, seconds, allowed, executor, refusing, known)
    except transport.EndpointError as exc:
        spot.log(f"no certificate: {exc}")
        return Acquired(spot.label, unreadable=Unreadable(str(exc)))
    if known is None or _whole_chain(module, spot):
        return acquire.from_fetched(spot.label, got, _whole_chain(module, spot))
    # acquire.from_fetched's leaf-only answer, with the leaf's facts read once
    return Acquired(spot.label, (known.facts(got.certificates[0]),), session=got)
