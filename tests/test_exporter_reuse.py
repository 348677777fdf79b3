"""What the exporter reuses between probes, and that reusing it changes no answer.

- Key-exchange groups: the module contexts offer only the classical groups;
  against a real OpenSSL server with OpenSSL 3.5's default groups (the
  OpenSSL pyOpenSSL runs on, when it is 3.5 or later) that costs no
  HelloRetryRequest, while listing the hybrid after them does (the negative
  control). An endpoint that accepts only the hybrid group is probed once
  more with OpenSSL's defaults, and remembered: a real pyOpenSSL server and,
  where this machine's ``openssl`` knows the group, a real ``s_server``.
- Certificates parsed and read once by their DER bytes, bounded.
- The /probe text made from a template is exactly ``probe_text``'s, for
  every state, bounds, chain and clock.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from exporter_run import ExporterProcess, value
from OpenSSL import SSL
from OpenSSL._util import lib

from check_cert_validity import probe
from check_cert_validity.certfactory import Issued, issue
from check_cert_validity.certinfo import CertFacts
from check_cert_validity.exporter import config as configuration
from check_cert_validity.exporter import exposition, groups
from check_cert_validity.exporter.known import KnownCertificates
from check_cert_validity.judgement import Acquired, Unreadable, judge
from check_cert_validity.loopback import write_pem

from conftest import free_port

HYBRID = b"X25519MLKEM768"
NOW = datetime(2026, 12, 2, 12, 0, 0, 250000, tzinfo=UTC)


@pytest.fixture(scope="module")
def leaf() -> Issued:
    now = datetime.now(UTC)
    return issue(
        common_name="groups.internal",
        not_before=now - timedelta(days=1),
        not_after=now + timedelta(days=29),
    )


def server_context(leaf: Issued, group_list: bytes | None = None) -> SSL.Context:
    context = SSL.Context(SSL.TLS_SERVER_METHOD)
    probe.load_identity(context, [leaf.cert], leaf.key)  # pyOpenSSL 23 wants its wrappers
    if group_list is not None and not set_groups(context, group_list):
        pytest.skip(
            f"this OpenSSL ({SSL.OpenSSL_version(SSL.OPENSSL_VERSION).decode()}) "
            f"does not know {group_list.decode()}"
        )
    return context


def set_groups(context: SSL.Context, group_list: bytes) -> bool:
    """The groups list, where these bindings can set it (skips where they cannot)."""
    setter = getattr(lib, "SSL_CTX_set1_curves_list", None)
    if setter is None:  # cryptography 38 (Debian 12's) does not bind it
        pytest.skip("these cryptography bindings cannot set the groups list")
    return bool(setter(context._context, group_list))


def knows_hybrid() -> bool:
    return set_groups(SSL.Context(SSL.TLS_CLIENT_METHOD), HYBRID)


def server_flights(client: SSL.Context, server: SSL.Context) -> tuple[int, probe.HandshakeProbe]:
    """Client-server round trips until the probe is finished, in memory, with real OpenSSL."""
    connection = SSL.Connection(server, None)
    connection.set_accept_state()
    handshake = probe.HandshakeProbe("groups.internal", context=client)
    flights = 0
    while not handshake.finished and flights < 4:
        connection.bio_write(handshake.data_to_send())
        try:
            connection.do_handshake()
        except (SSL.WantReadError, SSL.Error):
            pass
        answer = b""
        while True:
            try:
                answer += connection.bio_read(65536)
            except SSL.WantReadError:
                break
        flights += 1
        handshake.receive_data(answer)
    return flights, handshake


def classical_context() -> SSL.Context:
    context = probe.client_context()
    if not groups.restrict(context):
        pytest.skip("these cryptography bindings cannot set the groups list")
    return context


def test_classical_groups_cost_no_hello_retry_from_openssl_35_defaults(leaf: Issued) -> None:
    if not knows_hybrid():
        pytest.skip("this OpenSSL predates the hybrid group: its defaults are classical anyway")
    flights, handshake = server_flights(classical_context(), server_context(leaf))
    assert handshake.completed and handshake.certificates
    assert flights == 1  # ServerHello and the certificate came back at once
    # negative control: the hybrid listed after the classical groups costs a round trip
    listed_after = probe.client_context()
    assert set_groups(listed_after, b"X25519:P-256:" + HYBRID)
    flights, handshake = server_flights(listed_after, server_context(leaf))
    assert handshake.completed and flights == 2


def test_the_classical_hello_is_smaller_and_refused_by_a_hybrid_only_server(leaf: Issued) -> None:
    classical = classical_context()
    sizes = [
        len(probe.HandshakeProbe("x", context=context).data_to_send())
        for context in (classical, probe.client_context())
    ]
    if knows_hybrid():
        assert sizes[0] < sizes[1] - 1000  # no 1184-byte ML-KEM key share
    _flights, handshake = server_flights(classical, server_context(leaf, HYBRID))
    assert handshake.refused_hello and not handshake.certificates
    _flights, handshake = server_flights(probe.client_context(), server_context(leaf, HYBRID))
    assert handshake.completed and not handshake.refused_hello


class CountingTLSServer:
    """A blocking pyOpenSSL server on loopback that counts the connections it accepts."""

    def __init__(self, context: SSL.Context) -> None:
        self.context = context
        self.connections = 0
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            # blocking: with a timeout, a Python socket is non-blocking to OpenSSL
            sock.setblocking(True)
            connection = SSL.Connection(self.context, sock)
            connection.set_accept_state()
            try:
                connection.do_handshake()
                connection.recv(1)
            except (SSL.Error, OSError):
                pass
            sock.close()

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def hybrid_only(leaf: Issued) -> Iterator[CountingTLSServer]:
    server = CountingTLSServer(server_context(leaf, HYBRID))
    yield server
    server.close()


def test_hybrid_only_endpoint_is_read_with_one_retry_then_remembered(
    start: Callable[..., ExporterProcess], hybrid_only: CountingTLSServer
) -> None:
    exporter = start(None, "--log.level", "debug")
    target = f"127.0.0.1:{hybrid_only.port}"
    first = exporter.probe(target, debug="true")
    assert first.status == 200
    assert "refused: again with OpenSSL's" in first.body
    assert "cert_validity_probe_success{" in first.body and "} 1\n" in first.body
    assert hybrid_only.connections == 2
    for _ in range(3):
        answer = exporter.probe(target)
        assert value(answer.body, "cert_validity_probe_success{") == 1
    assert hybrid_only.connections == 5  # one connection each, from the second probe on


@pytest.fixture
def s_server(tmp_path: Path, leaf: Issued) -> Iterator[Callable[..., int]]:
    procs: list[subprocess.Popen[bytes]] = []

    def go(*extra: str) -> int:
        cert, key = write_pem(str(tmp_path), f"s{len(procs)}", [leaf])
        port = free_port()
        command = [
            "openssl",
            "s_server",
            "-accept",
            f"127.0.0.1:{port}",
            "-cert",
            cert,
            "-key",
            key,
        ]
        proc = subprocess.Popen(
            [*command, "-quiet", *extra],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        procs.append(proc)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if proc.poll() is not None:  # refused its options: this openssl lacks the group
                error = (proc.stderr.read() if proc.stderr else b"").decode(errors="replace")
                first = error.strip().splitlines()[0] if error.strip() else "no reason given"
                pytest.skip(f"openssl s_server {' '.join(extra)} does not start: {first}")
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            pytest.fail("openssl s_server did not listen within 10s")
        return port

    if not shutil.which("openssl"):
        pytest.skip("no openssl binary")
    yield go
    for proc in procs:
        proc.kill()
        proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


def test_s_server_accepting_only_the_hybrid_group_is_read(
    start: Callable[..., ExporterProcess], s_server: Callable[..., int]
) -> None:
    port = s_server("-groups", HYBRID.decode())
    exporter = start(None)
    for _ in range(2):
        answer = exporter.probe(f"127.0.0.1:{port}")
        assert value(answer.body, "cert_validity_probe_success{") == 1


def test_known_certificates_parse_and_read_each_der_once(leaf: Issued) -> None:
    others = [
        issue(common_name=f"k{i}.internal", not_before=NOW, not_after=NOW + timedelta(days=9))
        for i in range(3)
    ]
    known = KnownCertificates(kept=2)
    der = leaf.cert.public_bytes(Encoding.DER)
    first = known.parse(der)
    assert known.parse(bytes(der)) is first  # equal bytes, another object: the same certificate
    facts = known.facts(first)
    assert facts == CertFacts.from_certificate(leaf.cert) and known.facts(first) is facts
    for other in others:
        known.parse(other.cert.public_bytes(Encoding.DER))
    assert len(known) == 2  # bounded: the least recently seen went
    assert known.parse(der) is not first  # forgotten, parsed again
    assert known.facts(first) == facts and known.facts(first) is not facts  # read anew
    with pytest.raises(ValueError):
        known.parse(b"\x30\x03\x02\x01\x01")


MODULES = """
modules:
  chain: {chain: true, validity: 30, rotation: 10}
  ranges: {warning: "20:", critical: "10:", rotation: 15d}
  long: {validity: 10d}
"""


@pytest.fixture(scope="module")
def judged_inputs() -> list[tuple[Any, Acquired]]:
    ca = issue(
        common_name="Reuse CA",
        ca=True,
        not_before=NOW - timedelta(days=300),
        not_after=NOW + timedelta(days=20),
    )
    odd = issue(
        common_name='we"ird \\ name  with spaces',
        not_before=NOW - timedelta(days=10),
        not_after=NOW + timedelta(days=20),
        issuer=ca,
    )
    modules = [configuration.default_config().modules["default"]]
    modules += list(configuration.parse(MODULES).modules.values())
    chains = [
        Acquired(
            "h:1", (CertFacts.from_certificate(odd.cert), CertFacts.from_certificate(ca.cert))
        ),
        Acquired("h:1", (CertFacts.from_certificate(odd.cert),)),
        Acquired("h:1", unreadable=Unreadable("connection refused connecting")),
    ]
    return [(module.policy, acquired) for module in modules for acquired in chains]


@pytest.mark.parametrize(
    "seconds", [0, 0.0004, 1.5, 5 * 86400, 12 * 86400, 15.3 * 86400, 25 * 86400, -20 * 86400]
)
def test_template_text_is_exactly_probe_text(
    judged_inputs: list[tuple[Any, Acquired]], seconds: float
) -> None:
    templates = exposition.Templates()
    for _ in range(2):  # made, then reused
        for policy, acquired in judged_inputs:
            judgement = judge(acquired, policy, NOW + timedelta(seconds=seconds))
            expected = exposition.probe_text(judgement, "h", 1, "s.internal", 0.012345)
            assert templates.text(judgement, "h", 1, "s.internal", 0.012345) == expected
    # one template for each policy, chain and state seen: reused, not remade
    assert len(templates._made) <= len(judged_inputs)


def test_a_reused_template_follows_the_clock(judged_inputs: list[tuple[Any, Acquired]]) -> None:
    templates = exposition.Templates()
    policy, acquired = judged_inputs[1]
    texts = [
        templates.text(judge(acquired, policy, NOW + timedelta(seconds=s)), "h", 1, None, 0.5)
        for s in (0, 60)
    ]
    assert len(templates._made) == 1
    assert value(texts[0], "cert_validity_time_left_seconds{") - 60 == value(
        texts[1], "cert_validity_time_left_seconds{"
    )
    assert value(texts[1], "cert_validity_age_seconds{") - 60 == value(
        texts[0], "cert_validity_age_seconds{"
    )
