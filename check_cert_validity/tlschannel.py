"""TLS over a deadline-bound ``transport.Channel``: the stdlib ``ssl`` on memory BIOs.

For downloads over https (``httpfetch``). Every byte goes through the
channel, so the one deadline holds in the handshake and in every read, however
slowly the server trickles. Nothing is verified (CERT_NONE, no host name
check): the web server's certificate is not what is judged here, and a CRL
is signed data anyway. SNI is sent when there is a name to send. Every
protocol version and cipher the local OpenSSL can still speak is allowed, as
for an endpoint. Failures are ``transport.EndpointError`` with one line.
"""

from __future__ import annotations

import ssl

from check_cert_validity import transport
from check_cert_validity.certinfo import clean


class TlsChannel:
    """TLS over a deadline-bound channel: stdlib ``ssl`` on memory BIOs, verifying nothing."""

    def __init__(self, channel: transport.Channel, server_name: str | None) -> None:
        """Shake hands over ``channel``, sending ``server_name`` as SNI when given."""
        self._channel = channel
        self._incoming, self._outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._tls = _context().wrap_bio(self._incoming, self._outgoing, server_hostname=server_name)
        while True:
            try:
                self._tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._pump()
            except ssl.SSLEOFError:
                raise transport.EndpointError(
                    "the server closed the connection during the TLS handshake"
                ) from None
            except ssl.SSLError as exc:
                raise transport.EndpointError(f"TLS handshake failed: {_ssl_reason(exc)}") from None
        self._flush()

    def send(self, data: bytes) -> None:
        """Encrypt and send all of ``data`` before the deadline."""
        self._tls.write(data)
        self._flush()

    def recv(self) -> bytes:
        """Decrypted bytes, as many as one record gives (``b""`` at the end)."""
        while True:
            try:
                return self._tls.read(transport.RECV_SIZE)
            except ssl.SSLWantReadError:
                self._pump()
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                # The end, with or without close_notify: the body's framing says
                # whether anything is missing.
                return b""
            except ssl.SSLError as exc:
                raise transport.EndpointError(
                    f"TLS error in the response: {_ssl_reason(exc)}"
                ) from None

    def _flush(self) -> None:
        data = self._outgoing.read()
        if data:
            self._channel.send(data)

    def _pump(self) -> None:
        self._flush()
        data = self._channel.recv()
        if data:
            self._incoming.write(data)
        else:
            self._incoming.write_eof()


def _context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        # as the endpoint's probe: whatever this OpenSSL can still speak
        context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        context.set_ciphers("ALL:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):
        pass
    return context


def _ssl_reason(exc: ssl.SSLError) -> str:
    return clean(str(exc.reason or exc).lower().replace("_", " "), 80)
