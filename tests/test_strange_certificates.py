"""Malformed and strange certificates: a state and one clean line, never a traceback.

The corpus is every certificate in the ``cryptography-vectors`` package's
``x509`` directory (PEM blocks and DER files; CRLs and requests stored as
``.der`` come along as hostile bytes too). Each is served, unparsed, as the
Certificate message of a hand-written TLS 1.2 server on loopback (so the
plugin's OpenSSL parses it for real) and, where ``--file`` exists, read from
a file. Hand-made certificates cover the text a hostile subject can hold.
"""

from __future__ import annotations

import base64
import hashlib
import re
import socket
import warnings
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import cryptography_vectors
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from check_cert_validity.certfactory import issue
from check_cert_validity.certinfo import CertFacts, load_der
from check_cert_validity.cli import main
from check_cert_validity.nagios import describe
from check_cert_validity.states import State

import hostile
from conftest import DAY, NOW, NOW_ARG, RawServer, run_plugin

X509_DIR = Path(cryptography_vectors.__file__).parent / "x509"
_LABEL = rb"(?:X509 |TRUSTED )?CERTIFICATE-----"
_PEM_BLOCK = re.compile(rb"-----BEGIN " + _LABEL + rb"(.*?)-----END " + _LABEL, re.S)
_DER_SUFFIXES = (".der", ".crt", ".cer")


def _pem_ders(data: bytes) -> list[bytes]:
    ders = []
    for block in _PEM_BLOCK.findall(data):
        # RFC 7468 allows headers ("Proc-Type: ...") before the base64 body
        body = b"".join(line for line in block.splitlines() if b":" not in line)
        ders.append(base64.b64decode(re.sub(rb"[^A-Za-z0-9+/=]", b"", body)))
    return ders


def corpus() -> dict[str, bytes]:
    """Relative path (``#n`` for the n-th PEM block) -> DER bytes, deduplicated."""
    found: dict[str, bytes] = {}
    seen: set[bytes] = set()
    for path in sorted(X509_DIR.rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        ders = _pem_ders(data)
        if not ders and path.suffix in _DER_SUFFIXES and data[:1] == b"\x30":
            ders = [data]
        for index, der in enumerate(ders):
            digest = hashlib.sha256(der).digest()
            if digest not in seen:
                seen.add(digest)
                suffix = f"#{index}" if len(ders) > 1 else ""
                found[f"{path.relative_to(X509_DIR)}{suffix}"] = der
    return found


CORPUS = corpus()
STATUS = re.compile(r"CERT_VALIDITY (OK|WARNING|CRITICAL|UNKNOWN) - [^|\n]+( \| [^|\n]+)?")
# a CRL stored as .der in the corpus is read by --file as the CRL it is
_ONE_PERFDATUM = r"(crl_)?time_left\d*=-?\d+s;[0-9:~@.-]*;[0-9:~@.-]*;;\d+"
PERFDATA = re.compile(rf"{_ONE_PERFDATUM}( {_ONE_PERFDATUM})*")
PRINTABLE = re.compile(r"[ -~\u00a0-\U0010ffff]*")


def test_the_corpus_is_the_whole_directory() -> None:
    # guards against a glob that silently finds nothing
    assert len(CORPUS) > 500
    assert "custom/invalid_utf8_common_name.pem" in CORPUS
    assert any(name.startswith("PKITS_data/certs/") for name in CORPUS)


class Slot:
    """The DER bytes the loopback server serves next."""

    der = b""


@pytest.fixture(scope="module")
def corpus_server() -> Iterator[tuple[RawServer, type[Slot]]]:
    def behave(conn: socket.socket) -> None:
        conn.settimeout(5)
        hello = hostile.read_record(conn)
        conn.sendall(hostile.certificate_flight(hello, [Slot.der]))
        while conn.recv(4096):  # until the plugin hangs up
            pass

    server = RawServer(behave)
    yield server, Slot
    server.close()


def assert_clean_output(out: str, err: str, code: int, verbose: bool) -> None:
    assert err == "", "nothing on stderr: no traceback, no library warning"
    assert code in (0, 1, 2, 3)
    lines = out.splitlines()
    assert out.endswith("\n") and lines
    assert len(lines) == 1 or verbose
    assert STATUS.fullmatch(lines[0]), lines[0]
    assert "internal error" not in lines[0], lines[0]
    if " | " in lines[0]:
        assert PERFDATA.fullmatch(lines[0].split(" | ", 1)[1]), lines[0]
    for line in lines:
        assert PRINTABLE.fullmatch(line), line
        assert "\u2028" not in line and "\u2029" not in line
    for line in lines[1:]:
        assert "|" not in line, line


@pytest.mark.parametrize("name", list(CORPUS))
def test_served_corpus_certificate(
    name: str, corpus_server: tuple[RawServer, type[Slot]], capsys: pytest.CaptureFixture[str]
) -> None:
    server, slot = corpus_server
    slot.der = CORPUS[name]
    for verbose in ([], ["-vv"]):
        code = main(["-H", "127.0.0.1", "-p", str(server.port), "--now", NOW_ARG, *verbose])
        captured = capsys.readouterr()
        assert_clean_output(captured.out, captured.err, code, bool(verbose))


@pytest.mark.parametrize("name", list(CORPUS))
def test_corpus_certificate_facts(name: str) -> None:
    # the parse/format layer alone, for what cryptography can load at all
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # only the plugin's own code is under test
        try:
            cert = x509.load_der_x509_certificate(CORPUS[name])
        except (ValueError, x509.InvalidVersion):
            pytest.skip("cryptography refuses it (the served test covers that path)")
    try:
        facts = CertFacts.from_certificate(cert)
    except ValueError as exc:
        pytest.fail(f"CertFacts raised {exc!r}")
    for line in describe(facts, NOW):
        assert PRINTABLE.fullmatch(line) and "|" not in line, line


def plugin_has_file_option() -> bool:
    return "--file" in run_plugin("--help").stdout


@pytest.fixture(scope="module")
def file_option() -> None:
    if not plugin_has_file_option():
        pytest.skip("--file is not in --help yet (issue 4, built in parallel)")


@pytest.mark.parametrize("name", list(CORPUS))
def test_corpus_certificate_from_file(
    name: str, file_option: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cert.der"
    path.write_bytes(CORPUS[name])
    code = main(["--file", str(path), "--now", NOW_ARG])
    captured = capsys.readouterr()
    assert_clean_output(captured.out, captured.err, code, False)


def test_corpus_pem_files_from_file(file_option: None, capsys: pytest.CaptureFixture[str]) -> None:
    for path in sorted(X509_DIR.rglob("*.pem")):
        code = main(["--file", str(path), "--now", NOW_ARG])
        captured = capsys.readouterr()
        assert_clean_output(captured.out, captured.err, code, False)


# --- hand-made strange certificates -----------------------------------------

P = "PLACEHOLDER-0123456789"


def strange(**kwargs: object) -> bytes:
    kwargs.setdefault("not_before", NOW - timedelta(days=1))
    kwargs.setdefault("not_after", NOW + timedelta(days=29))
    return issue(**kwargs).cert.public_bytes(Encoding.DER)  # type: ignore[arg-type]


def long_subject() -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "O" * 5000),
            x509.NameAttribute(NameOID.COMMON_NAME, "n" * 64),
        ]
    )


def ok(name: str) -> str:
    return (
        f" certificate '{name}' has 29.0d left (expires 2026-12-29 12:00 UTC) "
        "| time_left=2505600s;864000:;432000:;;2592000"
    )


NESTED = "; nested asn1 error"
# name -> (DER, exit code, status line after "CERT_VALIDITY STATE - 127.0.0.1:PORT")
STRANGE = {
    "control characters": (
        strange(common_name="a\x00b\x07c\x1b[31md\x7f"),
        0,
        ok("a\\x00b\\x07c\\x1b[31md\\x7f"),
    ),
    "a pipe": (strange(common_name="svc|x=1;2;3"), 0, ok("svc\\x7cx=1;2;3")),
    "newlines": (
        strange(common_name="a\nCRITICAL - b\r\n"),
        0,
        ok("a\\x0aCRITICAL - b\\x0d\\x0a"),
    ),
    "unicode separators and RTL override": (
        strange(common_name="a\u2028b\u2029c\u202ed\u200b"),
        0,
        ok("a\\u2028b\\u2029c\\u202ed\\u200b"),
    ),
    "very long names": (
        strange(subject=long_subject(), sans=["d" * 250 + str(i) for i in range(40)]),
        0,
        ok("n" * 64),
    ),
    "a very long CN-less SAN": (
        strange(common_name=None, sans=["d" * 5000]),
        0,
        ok("d" * 77 + "..."),
    ),
    # OpenSSL itself refuses these while parsing the Certificate message
    "non-UTF-8 bytes in a UTF8String": (
        hostile.with_string(strange(common_name=P), P, 0x0C, b"caf\xe9\xff\xfe"),
        2,
        ": TLS handshake failed: invalid utf8string" + NESTED * 3 + "; ASN1 lib",
    ),
    "a BMPString of odd length": (
        hostile.with_string(strange(common_name=P), P, 0x1E, b"\x00a\x00"),
        2,
        ": TLS handshake failed: bmpstring is wrong length" + NESTED * 4 + "; nested asn1 er...",
    ),
    # OpenSSL takes it, cryptography cannot decode the subject: the SAN names it
    "8-bit bytes in a TeletexString": (
        hostile.with_string(strange(common_name=P), P, 0x14, b"caf\xe9\xff\xfe"),
        0,
        ok("localhost"),
    ),
    "negative serial -1": (hostile.with_serial(strange(), b"\xff"), 0, ok("localhost")),
    "negative 20-byte serial": (
        hostile.with_serial(strange(), b"\x80" + b"\x01" * 19),
        0,
        ok("localhost"),
    ),
    "zero serial": (hostile.with_serial(strange(), b"\x00"), 0, ok("localhost")),
    "64-byte serial": (hostile.with_serial(strange(), b"\x7f" * 64), 0, ok("localhost")),
    "zero lifetime, long expired": (
        strange(common_name="zero", not_before=NOW - DAY, not_after=NOW - DAY),
        2,
        " certificate 'zero' expired 24.0h ago (2026-11-29 12:00 UTC), lifetime not positive",
    ),
    "zero lifetime, not yet valid": (
        strange(common_name="zero", not_before=NOW + DAY, not_after=NOW + DAY),
        2,
        " certificate 'zero' not yet valid (2026-12-01 12:00 UTC), lifetime not positive",
    ),
    "no CN, a DNS SAN": (strange(common_name=None, sans=["svc.internal"]), 0, ok("svc.internal")),
    "no CN, no SAN": (strange(common_name=None, sans=()), 0, ok("<no CN or SAN>")),
    "only IP SANs": (strange(common_name=None, sans=["10.0.0.1", "fd00::1"]), 0, ok("10.0.0.1")),
}


@pytest.mark.parametrize("name", list(STRANGE))
def test_strange_certificate(name: str, raw_server: Callable[..., RawServer]) -> None:
    der, code, text = STRANGE[name]

    def behave(srv: RawServer, conn: socket.socket) -> None:
        hello = hostile.read_record(conn)
        conn.sendall(hostile.certificate_flight(hello, [der]))
        srv.wait(30)

    server = raw_server(behave)
    args = ["-H", "127.0.0.1", "-p", str(server.port), "--now", NOW_ARG]
    plain = run_plugin(*args)
    assert_clean_output(plain.stdout, plain.stderr, plain.code, False)
    state = State(code).name
    assert (plain.code, plain.first_line) == (
        code,
        f"CERT_VALIDITY {state} - 127.0.0.1:{server.port}{text}",
    )
    verbose = run_plugin(*args, "-vv")
    assert_clean_output(verbose.stdout, verbose.stderr, verbose.code, True)
    assert verbose.first_line == plain.first_line


def test_negative_serial_details_and_the_warning_it_would_raise() -> None:
    der = STRANGE["negative serial -1"][0]
    # negative control: cryptography does warn, so the empty stderr above means something
    with pytest.warns(Warning, match="serial number"):
        x509.load_der_x509_certificate(der).serial_number  # noqa: B018
    facts = CertFacts.from_certificate(load_der(der))
    assert facts.serial == "-01"
    huge = CertFacts.from_certificate(load_der(STRANGE["64-byte serial"][0]))
    assert huge.serial == ("7F:" * 39)[:117] + "..."
