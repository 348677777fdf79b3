"""CRLs downloaded for ``--crl URL`` and ``--crl-from-cert``, as the judgement takes them.

The download is ``httpfetch.get`` behind a callable (the runner binds it to
what is left of ``-t``); this module turns its body, or why there is none,
into ``AcquiredCrl`` values and puts them where the judgement looks: alone
(``--crl`` without -H or --file, judged by --validity/--rotation) or beside
the certificate (``--crl`` with -H or --file, ``--crl-from-cert``: judged by
the CRL policy, the worse state winning). A download that fails is a CRL
that could not be read: CRITICAL by default (``--unreachable-state``), as an
endpoint that gives no certificate.

``--crl-from-cert`` takes the URL from the leaf (``distpoint``); a leaf that
names no http(s) distribution point adds a note to the line instead, and the
certificate keeps its own state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from check_cert_validity.acquire import crl_facts
from check_cert_validity.certinfo import clean, load_der_crl
from check_cert_validity.judgement import Acquired, AcquiredCrl, Unreadable

if TYPE_CHECKING:
    from cryptography import x509

    from check_cert_validity.httpfetch import Download

Downloader = Callable[[str], "Download"]
_PEM_CRL = b"-----BEGIN X509 CRL-----"


def alone(url: str, download: Downloader) -> Acquired:
    """``--crl URL`` by itself: the CRL is what is checked, named by its URL."""
    return Acquired(clean(url, 200), crls=fetch(url, download))


def beside(acquired: Acquired, url: str, download: Downloader) -> Acquired:
    """The CRL at ``url`` judged beside the certificate (or the file's CRLs).

    Nothing is downloaded when nothing was read: the endpoint's or the file's
    failure is the whole story, and the deadline may be spent.
    """
    if acquired.unreadable is not None:
        return acquired
    if any(crl.label == clean(url, 200) for crl in acquired.crls):
        return acquired  # --crl and --crl-from-cert naming one URL: one download
    return acquired._replace(crls=(*acquired.crls, *fetch(url, download)))


def from_leaf(acquired: Acquired, download: Downloader) -> Acquired:
    """``--crl-from-cert``: the CRL the leaf names, beside it; or a note that it names none."""
    from check_cert_validity.distpoint import NoDistributionPoint, crl_url

    leaf = _leaf(acquired)
    if leaf is None:
        if acquired.unreadable is not None:
            return acquired  # the endpoint's or the file's failure says it all
        return _noted(acquired, "no certificate to take a CRL distribution point from")
    try:
        url = crl_url(leaf)
    except NoDistributionPoint as exc:
        return _noted(acquired, str(exc))
    return beside(acquired, url, download)


def fetch(url: str, download: Downloader) -> tuple[AcquiredCrl, ...]:
    """The CRLs at ``url``, or one that says why it could not be read."""
    from check_cert_validity.httpfetch import FetchError

    label = clean(url, 200)
    try:
        got = download(url)
    except FetchError as exc:
        return (AcquiredCrl(label, Unreadable(str(exc))),)
    return parse(label, got.body, got.content_type)


def parse(label: str, body: bytes, content_type: str = "") -> tuple[AcquiredCrl, ...]:
    """A downloaded body as CRLs: DER (what distribution points serve) or PEM ``X509 CRL``."""
    from check_cert_validity import certfile

    if body[:1] == b"\x30":
        try:
            return (crl_facts(label, load_der_crl(body)),)
        except ValueError:
            reason = "not a CRL (DER that does not parse as one)"
    elif _PEM_CRL in body:
        try:
            return tuple(crl_facts(label, crl) for crl in certfile.parse(body).crls)
        except certfile.CertFileError as exc:
            reason = str(exc)
    elif not body:
        reason = "not a CRL (an empty body)"
    else:
        kind = clean(content_type.split(";")[0].strip(), 60)
        reason = f"not a CRL ({len(body)} bytes{f' of {kind}' if kind else ''})"
    return (AcquiredCrl(label, Unreadable(reason)),)


def _leaf(acquired: Acquired) -> x509.Certificate | None:
    if acquired.session is not None and acquired.session.certificates:
        return acquired.session.certificates[0]
    if acquired.bundle is not None and acquired.bundle.certificates:
        return acquired.bundle.certificates[0]
    return None


def _noted(acquired: Acquired, note: str) -> Acquired:
    return acquired._replace(notes=(*acquired.notes, note))
