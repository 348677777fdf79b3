"""Which CRL URL a leaf names: the first http(s) URI among its distribution points."""

from __future__ import annotations

import pytest
from cryptography import x509

from check_cert_validity.certfactory import issue
from check_cert_validity.distpoint import NoDistributionPoint, crl_url

from conftest import DAY, NOW


def leaf(*points: list[str]) -> x509.Certificate:
    return issue(not_before=NOW - DAY, not_after=NOW + DAY, crl_points=points).cert


@pytest.mark.parametrize(
    ("points", "url"),
    [
        ([["http://ca.internal/ca.crl"]], "http://ca.internal/ca.crl"),
        ([["https://ca.internal/ca.crl"]], "https://ca.internal/ca.crl"),
        ([["ldap://ca.internal/cn=CA", "http://ca.internal/a.crl"]], "http://ca.internal/a.crl"),
        ([["ldap://ca.internal/cn=CA"], ["HTTP://ca.internal/b.crl"]], "HTTP://ca.internal/b.crl"),
        ([["http://one/a.crl"], ["http://two/b.crl"]], "http://one/a.crl"),
    ],
)
def test_the_first_http_uri_is_the_one(points: list[list[str]], url: str) -> None:
    assert crl_url(leaf(*points)) == url


@pytest.mark.parametrize(
    ("points", "message"),
    [
        ([], "the certificate names no CRL distribution point"),
        (
            [["ldap://ca.internal/cn=CA?certificateRevocationList"]],
            "the certificate names no http(s) CRL distribution point "
            "(only ldap://ca.internal/cn=CA?certificateRevocationList)",
        ),
        (
            [["ftp://ca.internal/ca.crl|x"]],
            "the certificate names no http(s) CRL distribution point "
            "(only ftp://ca.internal/ca.crl\\x7cx)",
        ),
    ],
)
def test_none_to_fetch_says_why(points: list[list[str]], message: str) -> None:
    with pytest.raises(NoDistributionPoint) as caught:
        crl_url(leaf(*points))
    assert str(caught.value) == message
