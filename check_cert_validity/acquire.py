"""Acquisition, at the edge: an endpoint's or a file's certificates as ``Acquired``.

The IO itself is elsewhere (``transport.fetch`` behind a callable,
``keystore.load`` for files); this module turns what they return, or the
error they raise, into the value ``judgement.judge`` takes. The file reader loads only
for ``--file`` and ``--expect-file``: a plain endpoint check starts faster
without it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from check_cert_validity.certinfo import CertFacts, clean
from check_cert_validity.judgement import Acquired, AcquiredCrl, Unreadable

if TYPE_CHECKING:
    from cryptography import x509

    from check_cert_validity.transport import Fetched


def file_label(path: str) -> str:
    """A path as it appears in plugin text (operator-given, still kept on one line)."""
    return clean(path, 200)


def from_fetched(label: str, fetched: Fetched, whole_chain: bool = True) -> Acquired:
    """A completed fetch: the leaf, then (``whole_chain``) the rest of the chain presented.

    Reading a certificate's facts costs about as much as a hundredth of a
    check, and most servers send an intermediate: it is read only when
    something uses it (``--chain`` judges it, ``-v`` lists it).
    """
    chain = fetched.presented[1:] if whole_chain else ()
    facts = tuple(CertFacts.from_certificate(cert) for cert in (fetched.certificates[0], *chain))
    return Acquired(label, facts, session=fetched)


def endpoint(
    label: str,
    fetch: Callable[[], Fetched],
    expect_path: str | None,
    whole_chain: bool = True,
    password_file: str | None = None,
) -> Acquired:
    """Fetch the endpoint's certificates; with ``expect_path``, read the file it should serve
    (a keystore opened with the password in ``password_file``)."""
    from check_cert_validity.transport import EndpointError

    try:
        acquired = from_fetched(label, fetch(), whole_chain)
    except EndpointError as exc:
        return Acquired(label, unreadable=Unreadable(str(exc)))
    if expect_path is None:
        return acquired
    from check_cert_validity import certfile, keystore

    expected: CertFacts | Unreadable
    try:
        bundle = keystore.load(expect_path, password_file)
        if not bundle.certificates:  # a CRL parses, but is nothing a service serves
            raise certfile.CertFileError("no certificate in the file (it holds CRLs only)")
        expected = CertFacts.from_certificate(bundle.certificates[0])
    except certfile.CertFileError as exc:
        expected = Unreadable(str(exc), exc.cannot_look)
    return Acquired(
        label,
        acquired.certificates,
        expected=expected,
        expected_label=file_label(expect_path),
        session=acquired.session,
    )


def file(
    path: str,
    whole_chain: bool = True,
    password_file: str | None = None,
    crls_beside: bool = False,
) -> Acquired:
    """The certificates in the file at ``path`` (``--file``; a keystore opened with the
    password in ``password_file``), leaf first (the leaf alone unless ``whole_chain``),
    and its CRLs: every one when the file holds nothing else, beside the certificates
    only when ``crls_beside`` (``--chain``)."""
    from check_cert_validity import certfile, keystore

    label = file_label(path)
    try:
        bundle = keystore.load(path, password_file)
    except certfile.CertFileError as exc:
        return Acquired(label, unreadable=Unreadable(str(exc), exc.cannot_look), is_file=True)
    chosen = bundle.certificates if whole_chain else bundle.certificates[:1]
    facts = tuple(CertFacts.from_certificate(cert) for cert in chosen)
    crls = bundle.crls if crls_beside or not facts else ()
    judged = tuple(crl_facts(label, crl) for crl in crls)
    return Acquired(label, facts, bundle=bundle, is_file=True, crls=judged)


def crl_facts(label: str, crl: x509.CertificateRevocationList) -> AcquiredCrl:
    """One parsed CRL as the judgement takes it (from a file, or fetched from ``label``)."""
    from check_cert_validity.crlinfo import CrlFacts, Undated

    try:
        return AcquiredCrl(label, CrlFacts.from_crl(crl))
    except Undated as exc:  # read, but no date to judge it by: UNKNOWN
        return AcquiredCrl(label, Unreadable(str(exc), cannot_look=True))
