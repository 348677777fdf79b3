"""The sans-IO handshake, paired in memory with a pyOpenSSL server.

No sockets: bytes move between two memory-BIO connections, in whole chunks
or one byte at a time (partial reads must work, as in h11's tests).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
from OpenSSL import SSL

from check_cert_validity.certfactory import Issued
from check_cert_validity.probe import HandshakeProbe, load_identity


def server_connection(
    chain: Sequence[Issued],
    *,
    require_client_cert: bool = False,
    max_version: int | None = None,
) -> SSL.Connection:
    context = SSL.Context(SSL.TLS_SERVER_METHOD)
    load_identity(context, [item.cert for item in chain], chain[0].key)
    if max_version:
        context.set_max_proto_version(max_version)
    if require_client_cert:
        context.set_verify(
            SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, lambda *args: bool(args[-1])
        )
    server = SSL.Connection(context, None)
    server.set_accept_state()
    return server


def pump(probe: HandshakeProbe, server: SSL.Connection, chunk: int = 65536) -> None:
    """Move bytes both ways until the probe is finished (bounded)."""
    for _ in range(100000):
        outgoing = probe.data_to_send()
        if outgoing:
            server.bio_write(outgoing)
        try:
            server.do_handshake()
        except SSL.WantReadError:
            pass
        except SSL.Error:
            pass  # the server rejects us (client auth); its alert still flows
        try:
            incoming = server.bio_read(65536)
        except SSL.WantReadError:
            incoming = b""
        if probe.finished:
            return
        if not incoming:
            if outgoing:
                continue
            probe.receive_data(b"")
            return
        for start in range(0, len(incoming), chunk):
            probe.receive_data(incoming[start : start + chunk])
            if probe.finished:
                return
    raise AssertionError("handshake did not finish")


def subjects(probe: HandshakeProbe) -> list[str]:
    return [c.subject.rfc4514_string() for c in probe.certificates]


@pytest.mark.parametrize("chunk", [65536, 1])
def test_leaf_and_chain_collected(chunk: int, ca: Issued, leaf_factory: Callable) -> None:
    intermediate = leaf_factory(age=10, lifetime=365, issuer=ca, ca=True, common_name="Issuing CA")
    leaf = leaf_factory(age=1, lifetime=30, issuer=intermediate, common_name="svc.internal")
    probe = HandshakeProbe("svc.internal")
    pump(probe, server_connection([leaf, intermediate]), chunk)
    assert probe.completed and probe.error is None
    assert subjects(probe)[0] == "CN=svc.internal,O=check_cert_validity test"
    assert subjects(probe)[1] == "CN=Issuing CA,O=check_cert_validity test"
    assert probe.tls_version == "TLSv1.3"


@pytest.mark.parametrize("version", [SSL.TLS1_2_VERSION, SSL.TLS1_3_VERSION])
def test_client_auth_failure_after_certificate_still_yields_it(
    version: int, leaf_factory: Callable
) -> None:
    leaf = leaf_factory(age=1, lifetime=30, common_name="mtls.internal")
    probe = HandshakeProbe("mtls.internal")
    pump(probe, server_connection([leaf], require_client_cert=True, max_version=version))
    assert subjects(probe) == ["CN=mtls.internal,O=check_cert_validity test"]
    if version == SSL.TLS1_2_VERSION:
        # TLS 1.2: the server's alert arrives inside the handshake
        assert probe.finished and not probe.completed
        assert probe.error is not None and "handshake failed" in probe.error


def test_peer_closing_before_certificate_gives_nothing() -> None:
    probe = HandshakeProbe(None)
    assert probe.data_to_send().startswith(b"\x16\x03")  # a ClientHello record
    probe.receive_data(b"")
    assert probe.finished and probe.certificates == ()
    assert probe.explain_failure() == "the peer closed the connection during the handshake"


def test_plain_http_peer_is_named() -> None:
    probe = HandshakeProbe(None)
    probe.data_to_send()
    probe.receive_data(b"HTTP/1.1 400 Bad Request\r\nServer: x\r\n\r\n")
    assert probe.finished and probe.certificates == ()
    assert probe.explain_failure() == "not a TLS server (it sent 'HTTP/1.1 400 Bad Request')"


def test_garbage_with_control_characters_is_sanitised() -> None:
    probe = HandshakeProbe(None)
    probe.data_to_send()
    probe.receive_data(b"\x00\x01|evil\x1b[31m")
    assert probe.finished
    text = probe.explain_failure()
    assert "|" not in text and "\x1b" not in text and "\x00" not in text


@pytest.mark.parametrize("groups", [b"P-384", b"ffdhe2048", b"X25519MLKEM768"])
def test_a_server_that_takes_another_group_is_still_read(
    groups: bytes, leaf_factory: Callable
) -> None:
    # A server that accepts none of the probe's key shares asks again
    # (HelloRetryRequest) for a group the probe offered, and the certificate
    # still arrives.
    from OpenSSL._util import lib

    server = server_connection([leaf_factory(age=1, lifetime=30)])
    set_groups = getattr(lib, "SSL_CTX_set1_curves_list", None)
    if set_groups is None or set_groups(server.get_context()._context, groups) != 1:  # type: ignore[attr-defined]
        pytest.skip(f"this OpenSSL cannot limit a server to {groups.decode()}")
    probe = HandshakeProbe("localhost")
    pump(probe, server)
    assert probe.completed and probe.error is None
    assert subjects(probe)[0] == "CN=localhost,O=check_cert_validity test"
