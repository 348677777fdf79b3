"""A small HTTP/1.1 server on asyncio streams: requests in, ``Response`` values out.

Only what scrapers, browsers and ``curl`` need: GET, HEAD and POST, keep-alive
(Prometheus reuses its connections), Content-Length bodies. Anything
malformed is answered with a one-line reason and the status it deserves
(400, 405, 413, 414, 431) and never reaches a handler; the connection is
closed after such an answer. The routes live in ``handlers.py``.
"""

from __future__ import annotations

import asyncio
import logging
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


async def _read_line(reader: asyncio.StreamReader, limit: int, status: int, what: str) -> bytes:
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError:
        raise BadRequest(status, f"{what} too long") from None
    if len(line) > limit:
        raise BadRequest(status, f"{what} too long")
    return line


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """The next request, or None when the client closed the connection between requests."""
    try:
        line = await _read_line(reader, MAX_REQUEST_LINE, 414, "request line")
    except asyncio.IncompleteReadError:
        return None
    parts = line.decode("latin-1").strip().split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(400, "malformed request line")
    method, target, _version = parts
    headers: dict[str, str] = {}
    size = 0
    for _ in range(MAX_HEADER_LINES + 1):
        raw = await _read_line(reader, MAX_HEADERS, 431, "header")
        size += len(raw)
        if size > MAX_HEADERS:
            raise BadRequest(431, "headers too large")
        text = raw.decode("latin-1").strip()
        if not text:
            break
        name, sep, value = text.partition(":")
        if not sep:
            raise BadRequest(400, "malformed header line")
        headers[name.strip().lower()] = value.strip()
    else:
        raise BadRequest(431, "too many headers")
    body = b""
    length_text = headers.get("content-length", "0")
    if not length_text.isdigit():
        raise BadRequest(400, "malformed Content-Length")
    if int(length_text) > MAX_BODY:
        raise BadRequest(413, "request body too large")
    if int(length_text):
        body = await reader.readexactly(int(length_text))
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


async def serve_connection(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, handler: Handler
) -> None:
    """Answer requests on one connection until either side closes it."""
    try:
        while True:
            try:
                async with asyncio.timeout(IDLE_SECONDS):
                    request = await read_request(reader)
            except BadRequest as exc:
                writer.write(encode(Response.text(exc.status, str(exc)), False, True))
                await writer.drain()
                return
            except (TimeoutError, asyncio.IncompleteReadError):
                return
            if request is None:
                return
            close = request.headers.get("connection", "").lower() == "close"
            try:
                response = await handler(request)
            except Exception as exc:  # our own bug: a 500, the server stays up
                log.exception("internal error", extra={"fields": {"path": request.path}})
                response = Response.text(500, f"internal error: {type(exc).__name__}: {exc}")
            writer.write(encode(response, request.method == "HEAD", close))
            await writer.drain()
            if close:
                return
    except (ConnectionError, OSError):
        return
    finally:
        writer.close()
