"""The sans-IO TLS handshake: bytes in, bytes out, certificates collected.

No socket and no clock here (the transport owns both). A pyOpenSSL
``Connection(ctx, None)`` runs on memory BIOs. The context verifies nothing
(VERIFY_NONE) and accepts every protocol version and cipher the local OpenSSL
can still negotiate, so that legacy servers stay readable; a verify callback
records each certificate with its depth and returns True.

States:

- in progress: ``finished`` is False; send ``data_to_send()``, feed the
  peer's bytes with ``receive_data()`` (``b""`` means the peer closed).
- finished: the handshake completed, failed, or the peer closed. Once the
  certificate arrived, a later failure (a server demanding a client
  certificate, say) does not matter: ``certificates`` still holds it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from cryptography import x509
from OpenSSL import SSL, crypto

from check_cert_validity.certinfo import clean, load_der

if TYPE_CHECKING:
    from check_cert_validity.clientcert import ClientIdentity

# SSL_OP_LEGACY_SERVER_CONNECT: OpenSSL 3 refuses servers without secure
# renegotiation (RFC 5746) unless told otherwise; old servers must be readable.
_OP_LEGACY_SERVER_CONNECT = 0x4
# What cryptography raises for a certificate OpenSSL accepted but it cannot read
# (InvalidVersion is not a ValueError).
_UNPARSEABLE = (ValueError, x509.InvalidVersion)
# TLS record content types a server may open with: alert (21), handshake (22).
_TLS_RECORD_TYPES = (0x15, 0x16)


def client_context(
    *,
    alpn: bytes | None = None,
    identity: ClientIdentity | None = None,
) -> SSL.Context:
    """A client context that reads any server and verifies nothing.

    One context can serve many ``HandshakeProbe``s (the exporter makes one per
    module: creating one costs about 0.2 ms); the verify callback finds each
    connection's probe through the connection's app data.
    """
    context = SSL.Context(SSL.TLS_CLIENT_METHOD)
    context.set_min_proto_version(0)  # 0: the lowest version OpenSSL has
    context.set_cipher_list(b"ALL:COMPLEMENTOFALL:@SECLEVEL=0")
    context.set_options(_OP_LEGACY_SERVER_CONNECT)
    context.set_verify(SSL.VERIFY_NONE, _record_on_probe)
    if alpn:
        context.set_alpn_protos([alpn])  # PostgreSQL 17 direct TLS insists on it
    if identity is not None:
        load_identity(context, identity.chain, identity.key)
    # OpenSSL's own key-exchange groups, key shares and all: sending only a
    # classical share with the hybrid still listed would save ~1M instructions,
    # but OpenSSL 3.5 servers (Debian 13's) prefer the post-quantum hybrid and
    # would ask again (HelloRetryRequest), a round trip every check. The
    # exporter leaves the hybrid out altogether (exporter/groups.py).
    return context


_BIO_READ = 65536


def _record_on_probe(conn: SSL.Connection, cert: Any, errno: int, depth: int, ok: int) -> bool:
    probe = conn.get_app_data()
    return probe._record(conn, cert, errno, depth, ok) if probe is not None else True


class HandshakeProbe:
    """One client handshake's state machine over memory buffers."""

    def __init__(
        self,
        server_name: str | None = None,
        *,
        alpn: bytes | None = None,
        identity: ClientIdentity | None = None,
        context: SSL.Context | None = None,
        parse: Callable[[bytes], x509.Certificate] = load_der,
    ) -> None:
        self._parse = parse  # DER -> certificate (the exporter's remembers those it saw)
        if context is None:
            context = client_context(alpn=alpn, identity=identity)
        self._conn = SSL.Connection(context, None)
        self._conn.set_app_data(self)
        self._conn.set_connect_state()
        if server_name:
            self._conn.set_tlsext_host_name(_sni_bytes(server_name))
        self._by_depth: dict[int, bytes] = {}
        self._parsed: tuple[x509.Certificate, ...] | None = None  # cache of certificates
        self._first_bytes = b""
        self.finished = False
        self.completed = False
        self.error: str | None = None
        self._advance()

    def _record(self, _conn: Any, cert: Any, _errno: int, depth: int, _ok: int) -> bool:
        """Verify callback: keep every certificate's DER, judge none.

        Only OpenSSL's encoder here: cryptography may refuse a certificate
        OpenSSL accepted, and an exception in this callback would abort the
        handshake with it. Parsing waits for ``certificates``.
        """
        self._by_depth[depth] = crypto.dump_certificate(crypto.FILETYPE_ASN1, cert)
        self._parsed = None
        return True

    def _advance(self) -> None:
        try:
            self._conn.do_handshake()
        except SSL.WantReadError:
            return
        except SSL.ZeroReturnError:
            self._finish("the peer closed the TLS session during the handshake")
        except SSL.SysCallError as exc:
            self._finish(_syscall_text(exc))
        except SSL.Error as exc:
            self._finish(_error_text(exc))
        else:
            self.completed = True
            self._finish(None)

    def _finish(self, error: str | None) -> None:
        self.finished = True
        self.error = error
        # no callback comes after the handshake: drop the connection -> probe
        # reference, so that a finished probe is freed without the cyclic GC
        self._conn.set_app_data(None)

    def release(self) -> None:
        """Drop the connection's reference back to this probe (abandoned, unfinished ones
        would otherwise wait for the cyclic garbage collector, OpenSSL memory and all)."""
        self._conn.set_app_data(None)

    def data_to_send(self) -> bytes:
        """Bytes the handshake wants on the wire now (may be empty)."""
        chunks = []
        while True:
            try:
                chunk = self._conn.bio_read(_BIO_READ)
            except SSL.WantReadError:
                break
            chunks.append(chunk)
            # a memory BIO gives all it holds up to the size asked: less means it is empty
            # now (asking again would only raise WantReadError, an exception a flight)
            if len(chunk) < _BIO_READ:
                break
        return b"".join(chunks)

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the peer; ``b""`` means it closed the connection."""
        if self.finished:
            return
        if not self._first_bytes and data:
            self._first_bytes = data[:64]
        if not data:
            self._conn.bio_shutdown()
            self._advance()
            if not self.finished:
                self._finish("the peer closed the connection")
            return
        self._conn.bio_write(data)
        self._advance()

    def close_notify(self) -> bytes:
        """A polite close_notify for a completed session (best effort)."""
        if not self.completed:
            return b""
        try:
            self._conn.shutdown()
        except SSL.Error:
            pass
        return self.data_to_send()

    @property
    def certificates(self) -> tuple[x509.Certificate, ...]:
        """The recorded chain, leaf (depth 0) first, up to the first one
        cryptography cannot parse (empty when that is the leaf: see
        ``explain_failure``). Parsed once, however often it is asked for."""
        if self._parsed is not None:
            return self._parsed
        chain: list[x509.Certificate] = []
        for depth in sorted(self._by_depth):
            if depth != len(chain):
                break
            try:
                chain.append(self._parse(self._by_depth[depth]))
            except _UNPARSEABLE:
                break
        self._parsed = tuple(chain)
        return self._parsed

    @property
    def presented(self) -> tuple[x509.Certificate, ...]:
        """Every certificate the server sent, in its order (completed handshakes)."""
        try:
            try:
                chain = self._conn.get_peer_cert_chain(as_cryptography=True)
            except TypeError:  # before pyOpenSSL 24.3 (Debian 12 has 23): X509 objects only
                found = self._conn.get_peer_cert_chain()
                chain = [cert.to_cryptography() for cert in found] if found else None
        except ValueError:  # one cryptography cannot parse
            chain = None
        return tuple(chain) if chain else self.certificates

    @property
    def tls_version(self) -> str:
        """Negotiated protocol, e.g. ``TLSv1.3`` (``unknown`` before it is known)."""
        return self._conn.get_protocol_version_name() or "unknown"

    @property
    def cipher(self) -> str:
        """Negotiated cipher name, or an empty string."""
        return self._conn.get_cipher_name() or ""

    @property
    def refused_hello(self) -> bool:
        """True when it ended before any ServerHello: the server answered the ClientHello
        with an alert or closed without a word (what one that shares no group with us does)."""
        return self.finished and not self._by_depth and self._first_bytes[:1] in (b"", b"\x15")

    def explain_failure(self) -> str:
        """Why no certificate came: names a non-TLS peer by what it sent."""
        if self._first_bytes and self._first_bytes[0] not in _TLS_RECORD_TYPES:
            # ASCII with \xNN escapes for the rest; clean() escapes controls and
            # "|". Quoted by hand: repr() would double every backslash.
            text = self._first_bytes.decode("ascii", "backslashreplace")
            sample = text.split("\n", 1)[0].strip()
            return f"not a TLS server (it sent '{clean(sample, 40)}')"
        if 0 in self._by_depth:
            try:
                load_der(self._by_depth[0])
            except _UNPARSEABLE as exc:
                reason = clean(str(exc).split(" {", 1)[0], 60)
                return f"the server's certificate cannot be parsed ({reason})"
        if self.error:
            return self.error
        return "no certificate received"


def load_identity(context: SSL.Context, chain: Sequence[x509.Certificate], key: Any) -> None:
    """Give ``context`` a certificate chain (leaf first) to present and the leaf's key.

    Before pyOpenSSL 24.3 (Debian 12 has 23) a context takes only pyOpenSSL's
    own wrappers, later ones take cryptography's objects directly.
    """
    leaf, *extras = chain
    try:
        context.use_certificate(leaf)
        for extra in extras:
            context.add_extra_chain_cert(extra)
        context.use_privatekey(key)
    except TypeError:
        context.use_certificate(crypto.X509.from_cryptography(leaf))
        for extra in extras:
            context.add_extra_chain_cert(crypto.X509.from_cryptography(extra))
        context.use_privatekey(crypto.PKey.from_cryptography_key(key))


def _syscall_text(exc: SSL.SysCallError) -> str:
    args = exc.args
    if args and args[0] == -1:
        return "the peer closed the connection during the handshake"
    return f"TLS handshake failed: {clean(str(args[-1]) if args else str(exc))}"


def _error_text(exc: SSL.Error) -> str:
    reasons = []
    for entry in exc.args[0] if exc.args and isinstance(exc.args[0], list) else []:
        if isinstance(entry, tuple) and entry:
            reasons.append(str(entry[-1]))
    detail = "; ".join(reasons) if reasons else str(exc)
    return f"TLS handshake failed: {clean(detail, 120)}"


def _sni_bytes(name: str) -> bytes:
    """The server name on the wire; the idna codec (slow to load) only for non-ASCII."""
    return name.encode("ascii") if name.isascii() else name.encode("idna")
