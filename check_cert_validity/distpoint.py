"""Which CRL a certificate's clients fetch: the first http(s) URI of its distribution points.

Pure. Reads the CRL Distribution Points extension (RFC 5280, 4.2.1.13) of a
``cryptography`` certificate: each distribution point may name URIs in its
``fullName``; the first ``http://`` or ``https://`` one is the CRL every
client of the service downloads. ``ldap://`` ones (and a point named only
relative to the issuer) are skipped: they are not fetched here.
"""

from __future__ import annotations

from cryptography import x509

from check_cert_validity.certinfo import clean

_FETCHABLE = ("http://", "https://")


class NoDistributionPoint(Exception):
    """The certificate names no http(s) CRL distribution point (the text says which way)."""


def crl_url(certificate: x509.Certificate) -> str:
    """The first http(s) fullName URI among the distribution points; raises NoDistributionPoint."""
    try:
        points = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        raise NoDistributionPoint("the certificate names no CRL distribution point") from None
    except (ValueError, UnicodeError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType):
        raise NoDistributionPoint(
            "the certificate's CRL distribution points cannot be read"
        ) from None
    skipped: list[str] = []
    for point in points:
        for name in point.full_name or ():
            if not isinstance(name, x509.UniformResourceIdentifier):
                continue
            if name.value.lower().startswith(_FETCHABLE):
                return name.value
            skipped.append(clean(name.value, 100))
    if skipped:
        raise NoDistributionPoint(
            f"the certificate names no http(s) CRL distribution point (only {', '.join(skipped)})"
        )
    raise NoDistributionPoint("the certificate names no http(s) CRL distribution point")
