"""The check's numbers as gauges: one place that names them, for every metrics format.

A ``Reading`` is what one run of the check found: the endpoint, the Nagios
state (the exit code) and the certificates it read, each with its position
in the chain (0 = the leaf) and the ``Bounds`` it was judged against.
``samples()`` turns it into named, labelled values in base units (seconds),
which ``openmetrics`` and ``statsd`` only format. Nothing is computed twice:
the bounds come from ``thresholds.Bounds``, the times from ``CertFacts``.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Optional

from check_cert_validity.certinfo import CertFacts
from check_cert_validity.record import Record
from check_cert_validity.thresholds import Bounds

PREFIX = "cert_validity_"


class Gauge(Record):
    """A metric family: ``key`` is its name without the ``cert_validity_`` prefix."""

    __slots__ = ("help", "key", "unit")
    key: str
    help: str
    unit: str

    def __init__(self, key: str, help: str, unit: str = "") -> None:
        self._set(key=key, help=help, unit=unit)

    @property
    def name(self) -> str:
        """The Prometheus name, ``cert_validity_<key>``."""
        return PREFIX + self.key


PROBE_SUCCESS = Gauge(
    "probe_success", "1 when the endpoint served a certificate, 0 when it could not be read."
)
STATE = Gauge(
    "state",
    "Nagios state of the check, its exit code: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
)
TIME_LEFT = Gauge("time_left_seconds", "Time until notAfter (negative once expired).", "seconds")
LIFETIME = Gauge("lifetime_seconds", "The certificate's lifetime, notAfter - notBefore.", "seconds")
AGE = Gauge("age_seconds", "Time since notBefore (negative when not yet valid).", "seconds")
NOT_AFTER = Gauge(
    "not_after_timestamp_seconds", "notAfter as a Unix timestamp (expiry).", "seconds"
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


class CertReading(Record):
    """One certificate the check read: its chain position and what it was judged against."""

    __slots__ = ("bounds", "facts", "position")
    position: int
    facts: CertFacts
    bounds: Optional[Bounds]

    def __init__(self, position: int, facts: CertFacts, bounds: Optional[Bounds] = None) -> None:
        self._set(position=position, facts=facts, bounds=bounds)


class Reading(Record):
    """What one run of the check found, as of ``now``."""

    __slots__ = ("certificates", "host", "now", "port", "sni", "state")
    host: str
    port: int
    sni: Optional[str]
    state: int
    now: datetime
    certificates: tuple[CertReading, ...]

    def __init__(
        self,
        host: str,
        port: int,
        sni: Optional[str],
        state: int,
        now: datetime,
        certificates: tuple[CertReading, ...] = (),
    ) -> None:
        self._set(host=host, port=port, sni=sni, state=state, now=now, certificates=certificates)

    @property
    def probe_success(self) -> bool:
        """True when the endpoint gave us a certificate."""
        return bool(self.certificates)


class Sample(Record):
    """One value of one gauge, with its labels in a fixed order."""

    __slots__ = ("gauge", "labels", "value")
    gauge: Gauge
    labels: Labels
    value: float

    def __init__(self, gauge: Gauge, labels: Labels, value: float) -> None:
        self._set(gauge=gauge, labels=labels, value=value)

    def label(self, name: str) -> str:
        """The value of label ``name`` ("" when absent)."""
        return dict(self.labels).get(name, "")


def critical_point(bounds: Bounds) -> Optional[float]:
    """The time left below which it is CRITICAL, when one number says it."""
    crit = bounds.critical_range()
    if crit.inside or crit.end != math.inf or not math.isfinite(crit.start):
        return None  # a -c range that is not "alert below N"
    return crit.start


def endpoint_labels(reading: Reading) -> Labels:
    """Labels every series of the endpoint carries."""
    return (("host", reading.host), ("port", str(reading.port)), ("sni", reading.sni or ""))


def cert_labels(reading: Reading, cert: CertReading) -> Labels:
    """The endpoint's labels plus the certificate's chain position, CN and serial."""
    return (
        *endpoint_labels(reading),
        ("position", str(cert.position)),
        ("cn", cert.facts.name),
        ("serial", cert.facts.serial),
    )


def cert_values(cert: CertReading, now: datetime) -> dict[Gauge, float]:
    """The per-certificate numbers, in seconds; bounds only where they are known."""
    facts = cert.facts
    values = {
        TIME_LEFT: facts.time_left(now),
        LIFETIME: facts.lifetime,
        AGE: facts.age(now),
        NOT_AFTER: facts.not_after.timestamp(),
    }
    if cert.bounds is not None:
        values[EXPECTED_MIN] = cert.bounds.warn_below
        values[EXPECTED_MAX] = cert.bounds.validity
        point = critical_point(cert.bounds)
        if point is not None:
            values[CRITICAL] = point
    return values


def samples(reading: Reading) -> list[Sample]:
    """All samples of a reading, grouped by gauge in ``GAUGES`` order."""
    found: list[Sample] = [
        Sample(PROBE_SUCCESS, endpoint_labels(reading), 1.0 if reading.probe_success else 0.0),
        Sample(STATE, endpoint_labels(reading), float(reading.state)),
    ]
    per_cert = [
        (cert_labels(reading, cert), cert_values(cert, reading.now))
        for cert in reading.certificates
    ]
    for gauge in CERT_GAUGES:
        found.extend(
            Sample(gauge, labels, round(values[gauge], 3))
            for labels, values in per_cert
            if gauge in values
        )
    return found
