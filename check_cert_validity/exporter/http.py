"""A small HTTP/1.1 server, an asyncio protocol: requests in, ``Response`` values out.

Only what scrapers, browsers and ``curl`` need: GET, HEAD and POST, keep-alive
(Prometheus reuses its connections), Content-Length bodies. Anything
malformed is answered with a one-line reason and the status it deserves
(400, 405, 413, 414, 431) and never reaches a handler; the connection is
closed after such an answer. The routes live in ``handlers.py``.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qsl, urlsplit

log = logging.getLogger("check_cert_validity.exporter")

MAX_REQUEST_LINE = 8192
MAX_HEADERS = 16384
MAX_HEADER_LINES = 100
MAX_BODY = 65536
MAX_QUERY_FIELDS = 20
IDLE_SECONDS = 300.0  # longer than any scrape interval: keep-alive connections stay
HANDSHAKE_SECONDS = 10.0  # the web config's TLS
# a client sending faster than it is answered is paused at this much unread
HIGH_WATER = 2 * (MAX_REQUEST_LINE + MAX_HEADERS + MAX_BODY)


@dataclass(frozen=True, slots=True)
class Request:
    """A parsed request; header names are lower case."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class Response:
    """What a handler answers."""

    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = field(default=())

    @classmethod
    def text(cls, status: int, text: str) -> Response:
        """A one-line (or longer) plain-text answer."""
        return cls(status, (text.rstrip("\n") + "\n").encode("utf-8", "backslashreplace"))


Handler = Callable[[Request], Awaitable[Response]]


class BadRequest(Exception):
    """The client's request is malformed: answered with ``status`` and closed."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def parse_query(query: str) -> dict[str, str]:
    """Query parameters; a parameter given twice or bytes that are not UTF-8 are refused."""
    try:
        pairs = parse_qsl(
            query, keep_blank_values=True, errors="strict", max_num_fields=MAX_QUERY_FIELDS
        )
    except UnicodeDecodeError:
        raise BadRequest(400, "malformed query string: not UTF-8") from None
    except ValueError:
        raise BadRequest(
            400, f"malformed query string: more than {MAX_QUERY_FIELDS} fields"
        ) from None
    found: dict[str, str] = {}
    for name, value in pairs:
        if name in found:
            raise BadRequest(400, f"parameter {name!r} given more than once")
        found[name] = value
    return found


Head = tuple[str, str, dict[str, str], int]  # method, target, headers, bytes taken


def parse_head(buffer: bytearray) -> Head | None:
    """The request line and headers at the buffer's start, or None while they are incomplete.

    Line by line, as they came: an error in a line that has arrived is
    raised (BadRequest) whether or not the rest of the head has; a line too
    long is refused before its end arrives.
    """
    end = buffer.find(b"\n")
    if end < 0:
        if len(buffer) > MAX_REQUEST_LINE:
            raise BadRequest(414, "request line too long")
        return None
    if end + 1 > MAX_REQUEST_LINE:
        raise BadRequest(414, "request line too long")
    parts = buffer[: end + 1].decode("latin-1").strip().split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(400, "malformed request line")
    method, target, _version = parts
    headers: dict[str, str] = {}
    size = 0
    start = end + 1
    for _ in range(MAX_HEADER_LINES + 1):
        end = buffer.find(b"\n", start)
        if end < 0:
            if len(buffer) - start > MAX_HEADERS:
                raise BadRequest(431, "header too long")
            return None
        if end + 1 - start > MAX_HEADERS:
            raise BadRequest(431, "header too long")
        size += end + 1 - start
        if size > MAX_HEADERS:
            raise BadRequest(431, "headers too large")
        text = buffer[start : end + 1].decode("latin-1").strip()
        start = end + 1
        if not text:
            return method, target, headers, start
        name, sep, value = text.partition(":")
        if not sep:
            raise BadRequest(400, "malformed header line")
        headers[name.strip().lower()] = value.strip()
    raise BadRequest(431, "too many headers")


def body_length(headers: dict[str, str]) -> int:
    """The request body's Content-Length (0 without one); raises BadRequest."""
    length_text = headers.get("content-length", "0")
    if not length_text.isdigit():
        raise BadRequest(400, "malformed Content-Length")
    if int(length_text) > MAX_BODY:
        raise BadRequest(413, "request body too large")
    return int(length_text)


def request(head: Head, body: bytes) -> Request:
    """The parsed request of a complete head and its body; raises BadRequest."""
    method, target, headers, _used = head
    if method not in ("GET", "HEAD", "POST"):
        raise BadRequest(405, f"method {method[:20]!r} not allowed")
    split = urlsplit(target)
    return Request(method, split.path, parse_query(split.query), headers, body)


def encode(response: Response, head_only: bool, close: bool) -> bytes:
    """The response on the wire."""
    reason = HTTPStatus(response.status).phrase
    lines = [
        f"HTTP/1.1 {response.status} {reason}",
        f"Content-Type: {response.content_type}",
        f"Content-Length: {len(response.body)}",
    ]
    lines += [f"{name}: {value}" for name, value in response.headers]
    if close:
        lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if head_only else head + response.body


class Connection(asyncio.Protocol):
    """One client's connection: requests parsed from its bytes as they come, answered in order.

    A protocol rather than asyncio streams: a request's head is parsed in one
    go from the bytes received (streams: a coroutine call per header line)
    and answers go straight to the transport; per probe, that is a tenth of
    the exporter's Python work. ``tls`` gives the context to start TLS with
    on each new connection (None: plain HTTP), as the web config says then.
    """

    def __init__(self, handler: Handler, tls: Callable[[], ssl.SSLContext | None] | None = None):
        self._handler = handler
        self._tls = tls
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._eof = False  # the client sent all it will (or the connection is gone)
        self._lost = False
        self._over_ssl = False
        self._reading_paused = False
        self._data: asyncio.Future[None] | None = None  # waited on for more bytes
        self._writable: asyncio.Future[None] | None = None  # while the transport's buffer is full
        self._task: asyncio.Task[None] | None = None

    # asyncio.Protocol's callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._task = asyncio.get_running_loop().create_task(self._serve())

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) > HIGH_WATER and not self._reading_paused and self._transport:
            self._transport.pause_reading()  # a client sending faster than it is answered
            self._reading_paused = True
        self._wake()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake()
        return not self._over_ssl  # plain TCP: stay open to answer what was asked

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = self._lost = True
        self._wake()
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def pause_writing(self) -> None:
        self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._writable = None

    # the connection's task

    def _wake(self) -> None:
        if self._data is not None and not self._data.done():
            self._data.set_result(None)

    async def _more(self) -> bool:
        """Wait for more bytes; False when none will come."""
        if self._eof:
            return False
        self._data = asyncio.get_running_loop().create_future()
        try:
            await self._data
        finally:
            self._data = None
        return True

    async def _read_request(self) -> Request | None:
        """The next request, or None when the client closed the connection before its end."""
        head = parse_head(self._buffer)
        while head is None:
            if not await self._more():
                return None
            head = parse_head(self._buffer)
        length = body_length(head[2])
        end = head[3] + length
        while len(self._buffer) < end:
            if not await self._more():
                return None
        body = bytes(self._buffer[head[3] : end])
        del self._buffer[:end]
        if self._reading_paused and len(self._buffer) <= HIGH_WATER and self._transport:
            self._transport.resume_reading()
            self._reading_paused = False
        return request(head, body)

    async def _send(self, data: bytes) -> None:
        """Write, and wait while the transport's buffer is full (asyncio streams' drain)."""
        if self._lost or self._transport is None:
            raise ConnectionResetError("connection lost")
        self._transport.write(data)
        if self._writable is not None:
            await self._writable

    async def _start_tls(self, context: ssl.SSLContext) -> bool:
        """TLS over this connection first; False (and a debug line) when its handshake fails."""
        assert self._transport is not None
        loop = asyncio.get_running_loop()
        try:
            transport = await loop.start_tls(
                self._transport,
                self,
                context,
                server_side=True,
                ssl_handshake_timeout=HANDSHAKE_SECONDS,
            )
        except (OSError, TimeoutError, EOFError) as exc:  # ssl.SSLError is an OSError
            peer = self._transport.get_extra_info("peername")
            log.debug(
                "TLS handshake failed", extra={"fields": {"peer": str(peer), "reason": str(exc)}}
            )
            return False
        if transport is None:
            return False
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._over_ssl = True
        return True

    async def _serve(self) -> None:
        """Answer requests until either side closes the connection."""
        try:
            context = self._tls() if self._tls is not None else None
            if context is not None and not await self._start_tls(context):
                return
            await self._answer()
        except (ConnectionError, OSError):
            return
        finally:
            if self._transport is not None:
                self._transport.close()

    async def _answer(self) -> None:
        while True:
            try:
                async with asyncio.timeout(IDLE_SECONDS):
                    request = await self._read_request()
            except BadRequest as exc:
                await self._send(encode(Response.text(exc.status, str(exc)), False, True))
                return
            except TimeoutError:
                return
            if request is None:
                return
            close = request.headers.get("connection", "").lower() == "close"
            try:
                response = await self._handler(request)
            except Exception as exc:  # our own bug: a 500, the server stays up
                log.exception("internal error", extra={"fields": {"path": request.path}})
                response = Response.text(500, f"internal error: {type(exc).__name__}: {exc}")
            await self._send(encode(response, request.method == "HEAD", close))
            if close:
                return
