"""A downloaded body as CRLs, or one line saying what it is instead (pure, no network).

The bodies are what a distribution point may really serve: DER or PEM CRLs
from ``openssl ca -gencrl``, a certificate where the CRL should be, an HTML
page, nothing. The downloads themselves are in tests/integration/test_crl_http.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from crlca import OpenSslCa

from check_cert_validity.crldownload import parse
from check_cert_validity.crlinfo import CrlFacts
from check_cert_validity.judgement import Unreadable

from conftest import DAY, NOW

URL = "http://pki.internal/ca.crl"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> OpenSslCa:
    return OpenSslCa(tmp_path_factory.mktemp("crlca"))


@pytest.mark.parametrize("der", [True, False], ids=["DER", "PEM"])
def test_a_crl_in_either_encoding(ca: OpenSslCa, der: bool) -> None:
    (found,) = parse(URL, ca.gencrl(NOW - DAY, NOW + 6 * DAY, der=der))
    assert found.label == URL
    assert isinstance(found.crl, CrlFacts)
    assert (found.crl.not_before, found.crl.not_after) == (NOW - DAY, NOW + 6 * DAY)


def test_every_crl_of_a_pem_body(ca: OpenSslCa) -> None:
    body = ca.gencrl(NOW - DAY, NOW + 6 * DAY) + ca.gencrl(NOW, NOW + 7 * DAY)
    assert [item.crl.not_before for item in parse(URL, body)] == [NOW - DAY, NOW]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b"", "", "not a CRL (an empty body)"),
        (
            b"<html>It works!</html>",
            "text/html; charset=utf-8",
            "not a CRL (22 bytes of text/html)",
        ),
        (b"\x00\x01", "", "not a CRL (2 bytes)"),
        (b"<x>", "text/\x1b[31mred|", "not a CRL (3 bytes of text/\\x1b[31mred\\x7c)"),
        (b"0\x82\xff\xff", "", "not a CRL (DER that does not parse as one)"),
        (
            b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n",
            "",
            "PEM block 1 (X509 CRL) is not a valid CRL",
        ),
    ],
)
def test_what_is_not_a_crl_says_what_it_is(body: bytes, content_type: str, reason: str) -> None:
    assert parse(URL, body, content_type) == ((URL, Unreadable(reason)),)


def test_a_certificate_where_the_crl_should_be(ca: OpenSslCa) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding

    der = ca.ca.cert.public_bytes(Encoding.DER)
    assert parse(URL, der) == ((URL, Unreadable("not a CRL (DER that does not parse as one)")),)


def test_an_undated_crl_is_read_but_unknown(tmp_path: Path) -> None:
    from crlca import without_next_update

    fresh = OpenSslCa(tmp_path / "ca")  # its first CRL: number 42
    (found,) = parse(URL, without_next_update(fresh.gencrl(NOW - DAY, NOW + DAY, der=True)))
    assert found == (
        URL,
        Unreadable("CRL of 'Test CRL CA' (number 42) has no nextUpdate", cannot_look=True),
    )
