"""The sans-IO HTTP/1.1 response: bytes in, status, headers and a bounded body out.

No socket and no clock here (``httpfetch`` owns both). The request is the
one a CRL download needs (``request()``: GET, Host, ``Connection: close``);
the reader takes the server's bytes in whatever pieces they arrive.

States:

- head: ``receive_data()`` until the blank line that ends the headers;
  ``head_done`` turns True and ``status``, ``reason`` and ``headers`` are set.
  The caller looks at the status first: only a response it wants has its
  body read (a redirect or an error status is judged on the head alone).
- body: after ``start_body()``, framed by Content-Length, chunked transfer
  coding, or the end of the connection (``receive_data(b"")`` is the peer
  closing). A body declared or grown past ``limit`` fails at once: memory
  stays bounded by the limit, whatever the server sends.
- done: ``finished`` is True and ``body`` holds the whole body.

Every failure is an ``HttpError`` with a one-line message (server text is
cleaned, it is untrusted).
"""

from __future__ import annotations

from check_cert_validity.certinfo import clean

MAX_HEAD = 64 * 1024  # status line and headers together
MAX_CHUNK_LINE = 4096  # a chunk-size line with its extensions
_HEAD_END = b"\r\n\r\n"
_HEX_DIGITS = b"0123456789abcdefABCDEF"


class HttpError(Exception):
    """The server's response is not one this reader takes (the server's fault)."""


def request(host_header: str, target: str, user_agent: str) -> bytes:
    """A GET for ``target`` that asks for the body as it is and no kept-alive connection."""
    lines = (
        f"GET {target} HTTP/1.1",
        f"Host: {host_header}",
        f"User-Agent: {user_agent}",
        "Accept: */*",
        "Connection: close",
    )
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def size_text(size: int) -> str:
    """A limit as plugin text words it: ``20 MiB``, or bytes when not whole MiB."""
    mebibytes, rest = divmod(size, 1024 * 1024)
    return f"{mebibytes} MiB" if mebibytes and not rest else f"{size} bytes"


class ResponseReader:
    """One HTTP/1.x response, read from the bytes the caller feeds in."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.status = 0
        self.reason = ""
        self.headers: dict[str, str] = {}
        self.head_done = False
        self.finished = False
        self._buffer = bytearray()
        self._body = bytearray()
        self._framing = ""  # "length", "chunked" or "close", once the body started
        self._left = 0  # bytes still due: of the body (length) or of this chunk (chunked)
        self._chunk_crlf = False  # chunked: the CRLF after a chunk's data is due
        self._closed = False

    @property
    def body(self) -> bytes:
        """The whole body (once ``finished``)."""
        return bytes(self._body)

    def receive_data(self, data: bytes) -> None:
        """Feed the server's bytes; ``b""`` means it closed the connection."""
        if self.finished:
            return
        if not data:
            self._closed = True
        else:
            self._buffer += data
        if not self.head_done:
            self._read_head()
        elif self._framing:
            self._read_body()

    def start_body(self) -> None:
        """Read the body from here on; fails now if its declared size is over the limit."""
        if not self.head_done or self._framing:
            raise RuntimeError("start_body() before the head, or twice")
        coding = self.headers.get("transfer-encoding", "").strip().lower()
        length = self.headers.get("content-length")
        if coding:
            if coding != "chunked":
                raise HttpError(f"unsupported transfer coding '{clean(coding, 40)}'")
            self._framing = "chunked"
        elif length is not None:
            values = {value.strip() for value in length.split(",")}
            if len(values) != 1 or not next(iter(values)).isdigit():
                raise HttpError(f"invalid Content-Length '{clean(length, 40)}'")
            self._left = int(values.pop())
            if self._left > self.limit:
                raise HttpError(
                    f"body of {self._left} bytes is over the limit of {size_text(self.limit)}"
                )
            self._framing = "length"
        else:
            self._framing = "close"
        self._read_body()

    def _read_head(self) -> None:
        if not b"HTTP/1.".startswith(self._buffer[:7]) and (
            b"\r\n" in self._buffer or len(self._buffer) >= 40
        ):
            # another protocol (a banner, a TLS alert): say so now, not at the deadline
            self._status_line(bytes(self._buffer.split(b"\r\n", 1)[0]))
        end = self._buffer.find(_HEAD_END)
        if end < 0:
            if len(self._buffer) > MAX_HEAD:
                raise HttpError(f"response headers longer than {MAX_HEAD // 1024} KiB")
            if self._closed:
                if not self._buffer:
                    raise HttpError("the server closed the connection without a response")
                self._status_line(bytes(self._buffer.split(b"\r\n", 1)[0]))  # names a non-HTTP peer
                raise HttpError("the server closed the connection in the response headers")
            return
        if end > MAX_HEAD:
            raise HttpError(f"response headers longer than {MAX_HEAD // 1024} KiB")
        head = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
        del self._buffer[: end + len(_HEAD_END)]
        self._status_line(head[0].encode("latin-1"))
        for line in head[1:]:
            name, colon, value = line.partition(":")
            if not colon or not name or name != name.strip():
                raise HttpError(f"malformed response header '{clean(line, 60)}'")
            key = name.lower()
            # repeated fields join with a comma (RFC 9110, 5.3); Location is not
            # a list, so its first value stands
            if key in self.headers and key != "location":
                self.headers[key] += ", " + value.strip()
            else:
                self.headers.setdefault(key, value.strip())
        self.head_done = True

    def _status_line(self, line: bytes) -> None:
        text = line.decode("latin-1")
        version, _, rest = text.partition(" ")
        code, _, reason = rest.partition(" ")
        if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
            raise HttpError(f"not an HTTP response: '{clean(text, 40)}'")
        self.status = int(code)
        self.reason = clean(reason.strip(), 60)

    def _read_body(self) -> None:
        if self._framing == "chunked":
            self._read_chunks()
        elif self._framing == "length":
            self._take(min(self._left, len(self._buffer)))
            if self._left == 0:
                self.finished = True
            elif self._closed:
                got = len(self._body)
                raise HttpError(
                    f"the server closed the connection after {got} of {got + self._left} "
                    "bytes of the body"
                )
        else:
            self._take(len(self._buffer))
            self.finished = self._closed

    def _take(self, size: int) -> None:
        """Move ``size`` bytes from the buffer to the body, within the limit."""
        if len(self._body) + size > self.limit:
            raise HttpError(f"body is over the limit of {size_text(self.limit)}")
        self._body += self._buffer[:size]
        del self._buffer[:size]
        if self._framing != "close":
            self._left -= size

    def _read_chunks(self) -> None:
        while not self.finished:
            if self._left:
                self._take(min(self._left, len(self._buffer)))
                if self._left:
                    break
                self._chunk_crlf = True
            if self._chunk_crlf:
                if len(self._buffer) < 2:
                    break
                if self._buffer[:2] != b"\r\n":
                    raise HttpError("malformed chunked body: no CRLF after a chunk")
                del self._buffer[:2]
                self._chunk_crlf = False
            end = self._buffer.find(b"\r\n")
            if end < 0:
                if len(self._buffer) > MAX_CHUNK_LINE:
                    raise HttpError("malformed chunked body: chunk-size line too long")
                break
            digits = bytes(self._buffer[:end]).split(b";", 1)[0].strip()
            del self._buffer[: end + 2]
            if not digits or digits.strip(_HEX_DIGITS):
                shown = clean(digits.decode("latin-1"), 20)
                raise HttpError(f"malformed chunked body: chunk size '{shown}'")
            size = int(digits, 16)
            if size == 0:
                # The last chunk: trailers may follow, but the connection is ours to
                # close (Connection: close), so the body is complete here.
                self.finished = True
                return
            if len(self._body) + size > self.limit:
                raise HttpError(f"body is over the limit of {size_text(self.limit)}")
            self._left = size
        if self._closed and not self.finished:
            raise HttpError("the server closed the connection before the chunked body ended")
