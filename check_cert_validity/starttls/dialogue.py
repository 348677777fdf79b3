"""The IO half of a STARTTLS preamble: send, and read until a reply parses.

A protocol's pure half is a *parser*: it takes the bytes received so far and
returns ``(reply, consumed)`` once a whole reply is there, or None to ask for
more. ``Dialogue`` feeds it from the transport's ``Channel``, so every read
keeps to the one deadline, and caps what a hostile server can make us buffer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn, TypeVar

from check_cert_validity.certinfo import clean
from check_cert_validity.transport import Channel, EndpointError

T = TypeVar("T")
Parser = Callable[[bytes], tuple[T, int] | None]

# No greeting or capability list of a real server comes near this.
MAX_REPLY = 65536


class StartTLSError(EndpointError):
    """The server did not let us start TLS (refused, closed, or spoke nonsense)."""


def quote(reply: bytes, limit: int = 160) -> str:
    """A server reply as one safe line in single quotes (untrusted text)."""
    text = " / ".join(
        line.strip() for line in reply.decode("utf-8", "replace").splitlines() if line.strip()
    )
    return f"'{clean(text, limit)}'"


class Dialogue:
    """A plaintext conversation over a deadline-bound channel."""

    def __init__(self, channel: Channel, protocol: str) -> None:
        self.channel = channel
        self.protocol = protocol
        self._buffer = b""

    def send(self, data: bytes) -> None:
        """Send a request."""
        self.channel.send(data)

    def read(self, parser: Parser[T], waiting_for: str) -> T:
        """Receive until ``parser`` accepts a whole reply; return it."""
        while True:
            parsed = parser(self._buffer)
            if parsed is not None:
                reply, consumed = parsed
                self._buffer = self._buffer[consumed:]
                return reply
            if len(self._buffer) > MAX_REPLY:
                self.fail(f"sent more than {MAX_REPLY} bytes without a complete {waiting_for}")
            data = self.channel.recv()
            if not data:
                got = f" after {quote(self._buffer)}" if self._buffer.strip() else ""
                self.fail(f"the server closed the connection before its {waiting_for}{got}")
            self._buffer += data

    def refused(self, what: str, reply: bytes) -> NoReturn:
        """The server said no: name the protocol and quote its reply."""
        raise StartTLSError(f"{self.protocol} server refused {what}: {quote(reply)}")

    def fail(self, reason: str) -> NoReturn:
        """Any other way the preamble went wrong."""
        raise StartTLSError(f"{self.protocol} STARTTLS failed: {reason}")
