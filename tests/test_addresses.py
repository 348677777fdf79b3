"""Where to connect: IPv6, several addresses per name, --resolve, SNI, client certificates.

The machine's resolver has no name with several loopback addresses, so the
multi-address tests replace ``socket.getaddrinfo`` (DNS only, in-process):
connections and handshakes stay real.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from fakeservers import ScriptedServer

from check_cert_validity import cli
from check_cert_validity.certfactory import Issued
from check_cert_validity.loopback import write_pem

from conftest import NOW, NOW_ARG, has_ipv6_loopback, run_plugin

needs_ipv6 = pytest.mark.skipif(
    not has_ipv6_loopback(), reason="this machine has no IPv6 loopback (::1)"
)


def ok(label: str, cn: str, left: str = "29.0d", expires: str = "2026-12-29 12:00") -> str:
    return (
        f"CERT_VALIDITY OK - {label} certificate '{cn}' has {left} left (expires {expires} UTC) "
        "| time_left=2505600s;864000:;432000:;;2592000"
    )


@pytest.fixture
def pool_name(monkeypatch: pytest.MonkeyPatch) -> Callable[[list[str]], str]:
    """Make ``pool.test`` resolve to the given addresses, in that order."""

    def install(addresses: list[str]) -> str:
        real = socket.getaddrinfo

        def fake(host, port, family=0, type=0, proto=0, flags=0):  # type: ignore[no-untyped-def]
            if host not in ("pool.test", b"pool.test"):
                return real(host, port, family, type, proto, flags)
            return [
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
                for address in addresses
            ]

        monkeypatch.setattr(socket, "getaddrinfo", fake)
        return "pool.test"

    return install


@pytest.fixture
def blackhole() -> Iterator[Callable[[str, int], None]]:
    """A listener whose full accept queue drops SYNs: connecting to it hangs."""
    held: list[socket.socket] = []

    def make(host: str, port: int) -> None:
        listener = socket.socket()
        listener.bind((host, port))
        listener.listen(0)
        filler = socket.create_connection((host, port), 1)  # fills the queue
        held.extend([listener, filler])

    yield make
    for sock in held:
        sock.close()


def main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    code = cli.main(list(args))
    return code, capsys.readouterr().out.splitlines()


def test_several_addresses_tried_in_order(
    serve: Callable,
    leaf_factory: Callable,
    pool_name: Callable,
    blackhole: Callable,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = serve([leaf_factory(age=1, lifetime=30, common_name="pool.internal")])
    blackhole("127.0.0.3", server.port)
    host = pool_name(["127.0.0.3", "127.0.0.2", "127.0.0.1"])
    code, lines = main(
        capsys, "-H", host, "-p", str(server.port), "-t", "3", "--now", NOW_ARG, "-v"
    )
    assert code == 0
    assert lines[0] == ok(f"pool.test:{server.port}", "pool.internal")
    assert f"endpoint: pool.test:{server.port} (connected to 127.0.0.1:{server.port})" in lines[10]
    assert lines[11] == (
        f"addresses that did not answer first: 127.0.0.3:{server.port}: timed out; "
        f"127.0.0.2:{server.port}: connection refused"
    )
    assert server.seen_sni == ["pool.test"]


def test_all_addresses_failing_are_listed(
    pool_name: Callable, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    host = pool_name(["127.0.0.2", "127.0.0.1"])
    code, lines = main(capsys, "-H", host, "-p", str(port))
    assert (code, lines) == (
        2,
        [
            f"CERT_VALIDITY CRITICAL - pool.test:{port}: 127.0.0.2:{port}: connection refused; "
            f"127.0.0.1:{port}: connection refused"
        ],
    )


def test_a_blackhole_alone_times_out_at_the_deadline(
    pool_name: Callable, blackhole: Callable, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.3", 0))
        port = probe.getsockname()[1]
    blackhole("127.0.0.3", port)
    host = pool_name(["127.0.0.3"])
    code, lines = main(capsys, "-H", host, "-p", str(port), "-t", "0.5")
    assert (code, lines) == (
        2,
        [f"CERT_VALIDITY CRITICAL - pool.test:{port}: timed out after 0.5s connecting"],
    )


@pytest.fixture
def sni_server(serve: Callable, leaf_factory: Callable) -> object:
    return serve(
        [leaf_factory(age=1, lifetime=30, common_name="default.internal")],
        sni_chains={
            "a.internal": [leaf_factory(age=1, lifetime=30, common_name="a.internal")],
            "b.internal": [leaf_factory(age=2, lifetime=30, common_name="b.internal")],
        },
    )


def test_sni_picks_the_certificate(sni_server) -> None:  # type: ignore[no-untyped-def]
    port = sni_server.port
    base = ["-H", "127.0.0.1", "-p", str(port), "--now", NOW_ARG]
    assert run_plugin(*base, "--sni", "a.internal").first_line == ok(
        f"127.0.0.1:{port}", "a.internal"
    )
    line = run_plugin(*base, "--sni", "b.internal").first_line
    assert "certificate 'b.internal' has 28.0d left" in line
    assert run_plugin(*base).first_line == ok(f"127.0.0.1:{port}", "default.internal")
    assert sni_server.seen_sni == ["a.internal", "b.internal", None]


def test_resolve_keeps_the_name_for_sni_and_messages(sni_server) -> None:  # type: ignore[no-untyped-def]
    port = sni_server.port
    result = run_plugin(
        "-H", "a.internal", "--resolve", "127.0.0.1", "-p", str(port), "--now", NOW_ARG
    )
    assert (result.code, result.first_line) == (0, ok(f"a.internal:{port}", "a.internal"))
    # --no-sni: the same node, no name sent, the default certificate
    result = run_plugin(
        "-H", "a.internal", "--resolve", "127.0.0.1", "-p", str(port), "--no-sni", "--now", NOW_ARG
    )
    assert result.first_line == ok(f"a.internal:{port}", "default.internal")
    assert sni_server.seen_sni == ["a.internal", None]


def test_resolve_checks_each_node_of_a_pool(serve: Callable, leaf_factory: Callable) -> None:
    # two "nodes" answer for one name, each with its own certificate
    old = serve([leaf_factory(age=27, lifetime=30, common_name="www.internal")])
    new = serve([leaf_factory(age=1, lifetime=30, common_name="www.internal")], host="127.0.0.2")
    for server, address, code in ((old, "127.0.0.1", 2), (new, "127.0.0.2", 0)):
        result = run_plugin(
            "-H", "www.internal", "--resolve", address, "-p", str(server.port), "--now", NOW_ARG
        )
        assert result.code == code
        assert result.first_line.startswith(
            f"CERT_VALIDITY {'OK' if code == 0 else 'CRITICAL'} - www.internal:{server.port} "
        )
    assert old.seen_sni == new.seen_sni == ["www.internal"]


@needs_ipv6
@pytest.mark.parametrize("address", ["::1", "[::1]"])
def test_resolve_to_an_ipv6_literal(address: str, serve: Callable, leaf_factory: Callable) -> None:
    server = serve([leaf_factory(age=1, lifetime=30, common_name="v6.internal")], host="::1")
    result = run_plugin(
        "-H", "v6.internal", "--resolve", address, "-p", str(server.port), "--now", NOW_ARG, "-v"
    )
    assert result.first_line == ok(f"v6.internal:{server.port}", "v6.internal")
    assert f"(connected to [::1]:{server.port})" in result.stdout
    result = run_plugin("-H", "v6.internal", "--resolve", address, "-4", "-p", str(server.port))
    assert (result.code, result.first_line) == (
        2,
        f"CERT_VALIDITY CRITICAL - v6.internal:{server.port}: ::1 is not an IPv4 address",
    )


@needs_ipv6
def test_starttls_over_ipv6(leaf_factory: Callable) -> None:
    script = [
        ("send", b"+OK ready\r\n"),
        ("expect", b"STLS\r\n"),
        ("send", b"+OK go\r\n"),
        ("tls", None),
    ]
    chain = [leaf_factory(age=1, lifetime=30, common_name="pop.v6.internal")]
    with ScriptedServer(script, chain, host="::1") as server:
        result = run_plugin(
            "-H", "[::1]", "-6", "-p", str(server.port), "-P", "pop3", "--now", NOW_ARG
        )
        assert result.first_line == ok(f"[::1]:{server.port}", "pop.v6.internal")
        assert server.mismatches == []


def client_identity(ca: Issued, tmp_path: Path, name: str = "client") -> tuple[str, str]:
    """A clientAuth certificate issued by ``ca``, written as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "monitoring")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=3650))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca.key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return write_pem(str(tmp_path), name, [Issued(cert, key)])


@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_client_certificate_is_presented(
    version: str, serve: Callable, leaf_factory: Callable, ca: Issued, tmp_path: Path
) -> None:
    import ssl

    server = serve(
        [leaf_factory(age=1, lifetime=30, common_name="mtls.internal")],
        require_client_cert=True,
        client_ca=ca,
        max_version=getattr(ssl.TLSVersion, version),
    )
    cert, key = client_identity(ca, tmp_path)
    base = ["-H", "127.0.0.1", "-p", str(server.port), "--now", NOW_ARG]
    result = run_plugin(*base, "--client-cert", cert, "--client-key", key, "-v")
    assert result.first_line == ok(f"127.0.0.1:{server.port}", "mtls.internal")
    assert "handshake:" not in result.stdout  # the server accepted us: no late failure
    # key and certificate in one file work too
    Path(cert).write_bytes(Path(cert).read_bytes() + Path(key).read_bytes())
    assert run_plugin(*base, "--client-cert", cert).code == 0
    assert server.handshake_errors == []
    # negative control: without it the server rejects the handshake (after its certificate;
    # in TLS 1.3 only after our side has finished, so only the server notices)
    result = run_plugin(*base, "-v")
    assert result.code == 0
    assert ("handshake:" in result.stdout) == (version == "TLSv1_2")
    deadline = time.monotonic() + 5
    while not server.handshake_errors and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(server.handshake_errors) == 1


def test_client_certificate_usage_errors(ca: Issued, tmp_path: Path) -> None:
    cert, key = client_identity(ca, tmp_path)
    _other_cert, other_key = client_identity(ca, tmp_path, "other")
    cases = {
        ("--client-key", key): "--client-key needs --client-cert",
        ("--client-cert", str(tmp_path / "missing.pem")): (
            f"cannot read client certificate '{tmp_path}/missing.pem': No such file or directory"
        ),
        ("--client-cert", key): f"no PEM certificate in '{key}'",
        ("--client-cert", cert): f"no usable PEM private key in '{cert}' (no key)",
        ("--client-cert", cert, "--client-key", other_key): (
            f"the key in '{other_key}' does not belong to '{cert}'"
        ),
    }
    for args, message in cases.items():
        result = run_plugin("-H", "127.0.0.1", "-p", "1", *args)
        assert (result.code, result.first_line) == (
            3,
            f"CERT_VALIDITY UNKNOWN - usage error: {message}",
        ), args
