"""A bounded HTTP(S) GET, as CRL distribution points publish CRLs.

One deadline (``-t``, counted from when the plugin started, as for an
endpoint) covers resolving, connecting, the TLS handshake, the request, the
headers and the whole body: every read gets only the time that is left, so a
server trickling one byte a second is given up on at the deadline. The
sockets are the transport's (``transport.resolve``, ``connect``, ``Channel``);
the HTTP bytes are ``httpwire``'s. Bounds: one redirect is followed (a second
fails), a body over 20 MiB fails as soon as it is declared or grows past that,
only http and https. https verifies nothing (the web server's certificate is
not what is judged here) and sends SNI for names (``tlschannel``: the
deadline holds inside TLS too; it loads only for https).

Every failure is a ``FetchError`` with a one-line message worded like the
endpoint's (``connection refused``, ``timed out after 10s reading the body``,
``HTTP status 404 Not Found``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import quote, urljoin, urlsplit

from check_cert_validity import __version__, transport
from check_cert_validity.addresses import host_port, ip_literal
from check_cert_validity.certinfo import clean
from check_cert_validity.httpwire import HttpError, ResponseReader, request

if TYPE_CHECKING:
    from check_cert_validity.tlschannel import TlsChannel

MAX_BODY = 20 * 1024 * 1024
MAX_REDIRECTS = 1
REDIRECTS = (301, 302, 303, 307, 308)
DEFAULT_PORTS = {"http": 80, "https": 443}
USER_AGENT = f"check_cert_validity/{__version__}"
# Characters kept as they are in a request target; the rest (spaces, controls,
# non-ASCII from a Location header or a certificate) is percent-encoded.
_TARGET_SAFE = "!#$%&'()*+,/:;=?@[]~"


# Which of a URL's addresses may be connected to (or an exception saying none).
Permit = Callable[["Url", list[tuple[int, tuple]]], list[tuple[int, tuple]]]


class FetchError(transport.EndpointError):
    """The URL gave no body (the server's or network's fault, or a URL we cannot follow)."""


class Url(NamedTuple):
    """An http(s) URL split into what a request needs."""

    scheme: str
    host: str  # IPv6 literals without brackets
    port: int
    target: str  # path and query, at least "/"
    text: str  # the URL as given (untrusted when a server or certificate gave it)

    @property
    def shown(self) -> str:
        """The URL as plugin text shows it: on one line, capped."""
        return clean(self.text, 200)

    @property
    def host_header(self) -> str:
        """The Host field: the port only when it is not the scheme's own."""
        if self.port == DEFAULT_PORTS[self.scheme]:
            return f"[{self.host}]" if ":" in self.host else self.host
        return host_port(self.host, self.port)


class Download(NamedTuple):
    """What a successful GET yielded."""

    url: str  # where the body came from (after a redirect, the redirect's target)
    body: bytes
    peer: str  # the address that answered, host:port
    redirected_from: str | None = None  # the URL asked for, when a redirect was followed
    content_type: str = ""  # as the server said it (untrusted)


def parse_url(text: str) -> Url:
    """Split an http or https URL; raises FetchError naming what is wrong."""
    shown = clean(text, 200)
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError as exc:
        raise FetchError(f"invalid URL '{shown}': {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise FetchError(f"not an http or https URL: '{shown}'")
    host = parts.hostname or ""
    if not host:
        raise FetchError(f"no host in the URL '{shown}'")
    if not host.isascii() and not ip_literal(host):
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise FetchError(f"invalid host name in the URL '{shown}'") from None
    target = quote(parts.path or "/", safe=_TARGET_SAFE)
    if parts.query:
        target += "?" + quote(parts.query, safe=_TARGET_SAFE)
    return Url(scheme, host, port or DEFAULT_PORTS[scheme], target, text.strip())


def get(
    url: str | Url,
    timeout: float,
    *,
    started: float | None = None,
    family: int = 0,
    limit: int = MAX_BODY,
    permit: Permit | None = None,
) -> Download:
    """GET ``url`` within ``timeout`` seconds of ``started`` (``time.monotonic()``; default now).

    ``permit`` sees every URL's resolved addresses before any is connected
    to, the redirect's too, and returns those that may be (the exporter's
    ``allowed_targets``) or raises.
    """
    deadline = transport.Deadline(timeout, start=started)
    first = parse_url(url) if isinstance(url, str) else url
    current, followed = first, 0
    while True:
        try:
            reader, peer = _exchange(current, deadline, timeout, family, limit, permit)
            if reader.status == 200:
                origin = first.shown if followed else None
                kind = reader.headers.get("content-type", "")
                return Download(current.shown, reader.body, peer, origin, kind)
            if reader.status not in REDIRECTS:
                raise FetchError(f"HTTP status {reader.status} {reader.reason}".rstrip())
            location = reader.headers.get("location", "")
            if not location:
                raise FetchError(f"HTTP status {reader.status} redirect without a Location")
            try:
                target = parse_url(urljoin(current.text, location))
            except FetchError as exc:
                raise FetchError(f"HTTP status {reader.status} redirect: {exc}") from None
        except FetchError as exc:
            if followed:
                raise FetchError(f"{exc} (after the redirect to {current.shown})") from None
            raise
        if followed >= MAX_REDIRECTS:
            raise FetchError(
                f"redirected again, from {current.shown} to {target.shown} "
                f"(only {MAX_REDIRECTS} redirect is followed)"
            )
        current, followed = target, followed + 1


def _exchange(
    url: Url,
    deadline: transport.Deadline,
    timeout: float,
    family: int,
    limit: int,
    permit: Permit | None = None,
) -> tuple[ResponseReader, str]:
    """One request and its response: the head always, the body only for a 200."""
    stage = "resolving"
    sock = None
    try:
        endpoint = transport.Endpoint(url.host, url.port, family=family)
        addresses = transport.resolve(endpoint, deadline)
        if permit is not None:
            addresses = permit(url, addresses)
        stage = "connecting"
        sock, peer, _skipped = transport.connect(addresses, deadline)
        plain = transport.Channel(sock, deadline)
        channel: transport.Channel | TlsChannel = plain
        if url.scheme == "https":
            stage = "during the TLS handshake"
            from check_cert_validity.tlschannel import TlsChannel  # loads ssl: https only

            channel = TlsChannel(plain, None if ip_literal(url.host) else url.host)
        stage = "sending the request"
        channel.send(request(url.host_header, url.target, USER_AGENT))
        stage = "waiting for the response"
        reader = ResponseReader(limit)
        while not reader.head_done:
            reader.receive_data(channel.recv())
        if reader.status != 200:
            return reader, peer
        stage = "reading the body"
        reader.start_body()
        while not reader.finished:
            reader.receive_data(channel.recv())
        return reader, peer
    except TimeoutError:
        raise FetchError(f"timed out after {timeout:g}s {stage}") from None
    except HttpError as exc:
        raise FetchError(str(exc)) from None
    except transport.EndpointError as exc:
        raise FetchError(str(exc)) from None
    except OSError as exc:
        raise FetchError(f"{transport.os_reason(exc)} {stage}") from None
    finally:
        if sock is not None:
            sock.close()
