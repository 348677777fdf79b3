"""Certificates the exporter has seen, by their DER bytes: parsed and read once, not per probe.

A fleet is scraped every few seconds and serves the same certificate until
its next rotation, so parsing it and reading its facts (names, serial,
fingerprint, dates: ``CertFacts``) again on every probe is work thrown away.
Both are pure functions of the DER bytes, so one parsed certificate and its
facts serve every probe that receives the same bytes. Bounded: the least
recently seen go first.
"""

from __future__ import annotations

from collections import OrderedDict

from cryptography import x509

from check_cert_validity.certinfo import CertFacts, load_der

KEPT = 2048  # a fleet's leaves and intermediates, with room for a rotation


class KnownCertificates:
    """DER bytes -> the parsed certificate with its facts."""

    def __init__(self, kept: int = KEPT) -> None:
        self._kept = kept
        self._by_der: OrderedDict[bytes, CertFacts] = OrderedDict()
        # id() of each kept certificate -> its facts: an id is unique while the
        # object lives, and the entry goes when the certificate is forgotten
        self._by_id: dict[int, CertFacts] = {}

    def parse(self, der: bytes) -> x509.Certificate:
        """``load_der`` (and its errors), once per distinct certificate."""
        facts = self._by_der.get(der)
        if facts is not None:
            self._by_der.move_to_end(der)
            return facts.certificate
        cert = load_der(der)
        facts = self._by_der[der] = CertFacts.from_certificate(cert)
        self._by_id[id(cert)] = facts
        while len(self._by_der) > self._kept:
            _, gone = self._by_der.popitem(last=False)
            del self._by_id[id(gone.certificate)]
        return cert

    def facts(self, cert: x509.Certificate) -> CertFacts:
        """``CertFacts.from_certificate(cert)``, read once for a certificate ``parse`` made."""
        found = self._by_id.get(id(cert))
        if found is not None and found.certificate is cert:
            return found
        return CertFacts.from_certificate(cert)

    def __len__(self) -> int:
        return len(self._by_der)
