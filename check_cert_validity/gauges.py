"""The check's numbers as gauges: one place that names them, for every metrics format.

``samples()`` turns a ``Judgement`` into named, labelled values in base
units (seconds), which ``openmetrics`` and ``statsd`` only format. Every
series carries the endpoint's labels (``host``, ``port``, ``sni``; a file is
its path and port 0); per-certificate series add what was judged (``kind``:
``certificate`` or ``crl``), its position (0 = the leaf; a CRL's place among
the CRLs), CN (a CRL's issuer's), issuer (its CN, else its DN: the fleet rule
groups by it) and serial (a CRL's number). Nothing is computed here: the
bounds are the judgement's, the times the certificate's or CRL's.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from check_cert_validity.judgement import Judgement

if TYPE_CHECKING:
    from check_cert_validity.certinfo import CertFacts
    from check_cert_validity.crlinfo import CrlFacts
    from check_cert_validity.thresholds import Bounds

PREFIX = "cert_validity_"


class Gauge(NamedTuple):
    """A metric family: ``key`` is its name without the ``cert_validity_`` prefix."""

    key: str
    help: str
    unit: str = ""

    @property
    def name(self) -> str:
        """The Prometheus name, ``cert_validity_<key>``."""
        return PREFIX + self.key


PROBE_SUCCESS = Gauge(
    "probe_success",
    "1 when the endpoint served a certificate (or the CRL was read), 0 when it could not be read.",
)
STATE = Gauge(
    "state",
    "Nagios state of the check, its exit code: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
)
TIME_LEFT = Gauge(
    "time_left_seconds",
    "Time until notAfter (a CRL: nextUpdate); negative once expired.",
    "seconds",
)
LIFETIME = Gauge(
    "lifetime_seconds",
    "The lifetime, notAfter - notBefore (a CRL: nextUpdate - thisUpdate).",
    "seconds",
)
AGE = Gauge(
    "age_seconds",
    "Time since notBefore (a CRL: thisUpdate); negative when not yet valid.",
    "seconds",
)
NOT_AFTER = Gauge(
    "not_after_timestamp_seconds", "notAfter (a CRL: nextUpdate) as a Unix timestamp.", "seconds"
)
EXPECTED_MIN = Gauge(
    "expected_min_seconds",
    "Lower end of the expected time left, V-R: less means a rotation was missed (WARNING).",
    "seconds",
)
EXPECTED_MAX = Gauge(
    "expected_max_seconds",
    "Upper end of the expected time left, V: the validity the rotation system issues.",
    "seconds",
)
CRITICAL = Gauge(
    "critical_seconds",
    "Time left below which the check is CRITICAL: (V-R)/2, or the start of -c N:.",
    "seconds",
)

# The order families are written in.
ENDPOINT_GAUGES = (PROBE_SUCCESS, STATE)
CERT_GAUGES = (TIME_LEFT, LIFETIME, AGE, NOT_AFTER, EXPECTED_MIN, EXPECTED_MAX, CRITICAL)
GAUGES = ENDPOINT_GAUGES + CERT_GAUGES

Labels = tuple[tuple[str, str], ...]


class Sample(NamedTuple):
    """One value of one gauge, with its labels in a fixed order."""

    gauge: Gauge
    labels: Labels
    value: float

    def label(self, name: str) -> str:
        """The value of label ``name`` ("" when absent)."""
        return dict(self.labels).get(name, "")


def endpoint_labels(host: str, port: int, sni: str | None) -> Labels:
    """Labels every series of the endpoint carries."""
    return (("host", host), ("port", str(port)), ("sni", sni or ""))


def cert_labels(endpoint: Labels, position: int, facts: CertFacts | CrlFacts) -> Labels:
    """The endpoint's labels plus what was judged, its position, CN, issuer and serial."""
    return (
        *endpoint,
        ("kind", facts.kind),
        ("position", str(position)),
        ("cn", facts.name),
        ("issuer", facts.issuer_name),
        ("serial", facts.serial),
    )


def cert_values(
    facts: CertFacts | CrlFacts, bounds: Bounds | None, now: datetime
) -> dict[Gauge, float]:
    """The per-certificate numbers, in seconds; bounds only where they are known."""
    values = {
        TIME_LEFT: facts.time_left(now),
        LIFETIME: facts.lifetime,
        AGE: facts.age(now),
        NOT_AFTER: facts.not_after.timestamp(),
    }
    if bounds is not None:
        values[EXPECTED_MIN] = bounds.warn_below
        values[EXPECTED_MAX] = bounds.validity
        point = bounds.critical_point()
        if point is not None:
            values[CRITICAL] = point
    return values


def samples(judgement: Judgement, host: str, port: int, sni: str | None) -> list[Sample]:
    """All samples of a judgement, grouped by gauge in ``GAUGES`` order.

    Every judged certificate carries the bounds it was judged by: the ones
    derived from the leaf (the lower ones are what a certificate above the
    leaf is held to), a CRL its own.
    """
    endpoint = endpoint_labels(host, port, sni)
    found = [
        Sample(PROBE_SUCCESS, endpoint, 1.0 if judgement.probe_success else 0.0),
        Sample(STATE, endpoint, float(judgement.state)),
    ]
    per_cert = [
        (
            cert_labels(endpoint, cert.position, cert.facts),
            cert_values(cert.facts, cert.bounds, judgement.now),
        )
        for cert in judgement.certificates
    ]
    for gauge in CERT_GAUGES:
        found.extend(
            Sample(gauge, labels, round(values[gauge], 3))
            for labels, values in per_cert
            if gauge in values
        )
    return found
