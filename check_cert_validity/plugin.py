"""nagiosplugin glue: acquisition (Resource), evaluation (Context), text (Summary).

The resource fetches the certificate through a callable it is given (the
transport, or a file reader), so this module does no IO of its own.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Callable, Optional, Sequence

import nagiosplugin
from nagiosplugin.state import Critical, Ok, Unknown, Warn

from check_cert_validity.certinfo import CertFacts, utc_minute
from check_cert_validity.durations import format_duration
from check_cert_validity.thresholds import Bounds, Policy, ThresholdError, judge

if TYPE_CHECKING:  # transport imports OpenSSL.SSL: a file check must not pay for it
    from cryptography import x509

    from check_cert_validity.transport import Fetched

NAGIOS_STATES = {0: Ok, 1: Warn, 2: Critical, 3: Unknown}
# The context of the --chain metrics (plugin_chain.py), whose values are ChainElements.
CHAIN = "chain"


def certificate_metrics(
    leaf: CertFacts, certificates: Sequence[x509.Certificate], whole_chain: bool
) -> list[nagiosplugin.Metric]:
    """The leaf's metric, and with ``whole_chain`` one per certificate above it."""
    metrics = [nagiosplugin.Metric("time_left", leaf, context="validity")]
    if whole_chain:  # the chain glue loads only for --chain
        from check_cert_validity.plugin_chain import chain_metrics

        metrics.extend(chain_metrics(leaf, certificates[1:]))
    return metrics


def chain_lines(certificates: Sequence[x509.Certificate]) -> list[str]:
    """Long output: the certificates after the leaf, numbered as ``--chain`` names them."""
    lines = []
    for position, cert in enumerate(certificates[1:], start=1):
        facts = CertFacts.from_certificate(cert)
        lines.append(f"chain[{position}]: {facts.subject} (notAfter {utc_minute(facts.not_after)})")
    return lines


class ServedCertificate(nagiosplugin.Resource):
    """The leaf certificate an endpoint serves, and the chain it presents.

    The chain is what the server sent, in its order (``Fetched.presented``);
    ``-v`` lists it and ``--chain`` judges it. ``expect`` (``--expect-file``)
    turns the served leaf into the uptake metrics.
    """

    def __init__(
        self,
        acquire: Callable[[], Fetched],
        label: str,
        *,
        whole_chain: bool = False,
        expect: Optional[Callable[[CertFacts], list[nagiosplugin.Metric]]] = None,
    ) -> None:
        self.acquire = acquire
        self.label = label
        self.whole_chain = whole_chain
        self.expect = expect
        self.fetched: Optional[Fetched] = None
        self.leaf: Optional[CertFacts] = None

    @property
    def name(self) -> str:
        return "CERT_VALIDITY"

    def probe(self) -> list[nagiosplugin.Metric]:
        from check_cert_validity.transport import EndpointError

        try:
            self.fetched = self.acquire()
        except EndpointError as exc:
            return [nagiosplugin.Metric("endpoint", str(exc), context="endpoint")]
        self.leaf = CertFacts.from_certificate(self.fetched.certificates[0])
        metrics = certificate_metrics(self.leaf, self.fetched.presented, self.whole_chain)
        if self.expect is not None:
            metrics.extend(self.expect(self.leaf))
        return metrics

    def details(self, verbose: int) -> list[str]:
        """Long output lines: connection facts, then the chain."""
        fetched = self.fetched
        if fetched is None:
            return []
        lines = [
            f"endpoint: {self.label} (connected to {fetched.peer}), "
            f"{fetched.tls_version} {fetched.cipher}".rstrip()
        ]
        if fetched.skipped:
            lines.append(f"addresses that did not answer first: {'; '.join(fetched.skipped)}")
        if fetched.handshake_error:
            lines.append(f"handshake: {fetched.handshake_error} (after the certificate arrived)")
        lines.extend(chain_lines(fetched.presented))
        if verbose >= 2 and fetched.timings:
            steps = ", ".join(f"{k} {v * 1000:.1f}ms" for k, v in fetched.timings.items())
            lines.append(f"timings (cumulative): {steps}")
        return lines


def describe(facts: CertFacts, now: datetime) -> list[str]:
    """Long output lines about one certificate."""
    sans = ", ".join(facts.sans) if facts.sans else "none"
    return [
        f"subject: {facts.subject}",
        f"issuer: {facts.issuer}{' (self-issued)' if facts.self_issued else ''}",
        f"subjectAltName: {sans}",
        f"serial: {facts.serial}",
        f"SHA-256: {facts.sha256}",
        f"notBefore: {facts.not_before.isoformat()}",
        f"notAfter: {facts.not_after.isoformat()}",
        f"lifetime: {format_duration(facts.lifetime)}, age {format_duration(facts.age(now))}, "
        f"time left {format_duration(facts.time_left(now))}",
    ]


class ValidityContext(nagiosplugin.Context):
    """Judges the leaf's time left against the validity/rotation model."""

    def __init__(self, policy: Policy, now: datetime, label: str) -> None:
        super().__init__("validity")
        self.policy = policy
        self.now = now
        self.label = label
        self.bounds: Optional[Bounds] = None

    def evaluate(self, metric: nagiosplugin.Metric, resource: object) -> nagiosplugin.Result:
        facts: CertFacts = metric.value
        who = f"{self.label} certificate '{facts.name}'"
        try:
            self.bounds = Bounds.derive(self.policy, facts.lifetime)
        except ThresholdError as exc:
            # No bounds (notAfter <= notBefore, say); but a certificate outside
            # its validity period is rejected by every client: that is CRITICAL.
            left = facts.time_left(self.now)
            if left <= 0 or facts.age(self.now) < 0:
                when = f"expired {format_duration(-left)} ago" if left <= 0 else "not yet valid"
                text = f"{who} {when} ({utc_minute(facts.not_after)}), lifetime not positive"
                return nagiosplugin.Result(Critical, text, metric)
            return nagiosplugin.Result(Unknown, f"{who}: {exc}", metric)
        left, age = facts.time_left(self.now), facts.age(self.now)
        verdict = judge(left, age, facts.lifetime, self.bounds)
        expiry = utc_minute(facts.not_after)
        if age < 0:
            text = f"{who} is {verdict.reasons[0]} (notBefore {utc_minute(facts.not_before)})"
        elif left <= 0:
            text = f"{who} {verdict.reasons[0]} ({expiry})"
        else:
            why = "".join(f", {reason}" for reason in verdict.reasons)
            text = f"{who} has {format_duration(left)} left{why} (expires {expiry})"
        return nagiosplugin.Result(NAGIOS_STATES[verdict.state], text, metric)

    def performance(
        self, metric: nagiosplugin.Metric, resource: object
    ) -> Optional[nagiosplugin.Performance]:
        facts: CertFacts = metric.value
        if self.bounds is None:
            return None
        return nagiosplugin.Performance(
            "time_left",
            round(facts.time_left(self.now)),
            "s",
            str(self.bounds.warning_range()),
            str(self.bounds.critical_range()),
            "",
            round(facts.lifetime),
        )

    def details(self) -> list[str]:
        """The expected range these bounds give, for long output."""
        if self.bounds is None:
            return []
        b = self.bounds
        return [
            f"expected time left: {format_duration(b.warn_below)} to {format_duration(b.validity)} "
            f"(V={format_duration(b.validity)}{'' if b.validity_given else ' from the lifetime'}, "
            f"R={format_duration(b.rotation)}); WARNING {b.warning_range().describe()}, "
            f"CRITICAL {b.critical_range().describe()}"
        ]


class EndpointContext(nagiosplugin.Context):
    """Maps an endpoint that gave no certificate onto the configured state."""

    def __init__(self, state: int, label: str) -> None:
        super().__init__("endpoint")
        self.state = state
        self.label = label

    def evaluate(self, metric: nagiosplugin.Metric, resource: object) -> nagiosplugin.Result:
        return nagiosplugin.Result(
            NAGIOS_STATES[self.state], f"{self.label}: {metric.value}", metric
        )


def _expiry(result: nagiosplugin.Result) -> float:
    """Sort key: a certificate's notAfter; other results after all certificates."""
    metric = result.metric
    if metric is None:
        return float("inf")
    value = metric.value.facts if metric.context == CHAIN else metric.value
    return value.not_after.timestamp() if isinstance(value, CertFacts) else float("inf")


class CertSummary(nagiosplugin.Summary):
    """Status line naming the limiting certificate; long output from resources and contexts.

    With several results (``--chain``, ``--expect-file``) the status line
    starts with the worst, and among equally bad certificates the one that
    expires first; the other non-OK results follow, separated by ``; ``.
    """

    def __init__(self, verbose: int, now: datetime) -> None:
        self.verbose_level = verbose
        self.now = now

    def ok(self, results: nagiosplugin.Results) -> str:
        first = results[0]
        earliest = min(results, key=_expiry)
        if _expiry(earliest) < _expiry(first):
            return f"{first.hint}; {earliest.hint}"
        return str(first.hint)

    def problem(self, results: nagiosplugin.Results) -> str:
        bad = [r for r in results if r.state != Ok]
        bad.sort(key=lambda r: (-r.state.code, _expiry(r)))
        return "; ".join(str(r.hint) for r in bad)

    def verbose(self, results: nagiosplugin.Results) -> list[str]:
        lines: list[str] = []
        resources: list[object] = []
        metrics = [r.metric for r in results if r.metric is not None]
        # the leaf first, then what other contexts add, then each resource once
        metrics.sort(key=lambda metric: not isinstance(metric.value, CertFacts))
        for metric in metrics:
            if isinstance(metric.value, CertFacts):
                lines.extend(describe(metric.value, self.now))
            details = getattr(metric.contextobj, "details", None)
            if callable(details):
                lines.extend(details())
            if metric.resource not in resources:
                resources.append(metric.resource)
        for resource in resources:
            details = getattr(resource, "details", None)
            if callable(details):
                lines.extend(details(self.verbose_level))
        return lines


def judged_certificates(check: nagiosplugin.Check) -> list[tuple[int, CertFacts, Optional[Bounds]]]:
    """What a finished check judged, for the metrics formats: (position, facts, bounds).

    The leaf carries the bounds it was judged against; with ``--chain`` the
    certificates behind it carry the same (their lower bounds come from the
    leaf's V and R).
    """
    found: list[tuple[int, CertFacts, Optional[Bounds]]] = []
    bounds: Optional[Bounds] = None
    for result in check.results:
        metric = result.metric
        if metric is None:
            continue
        if isinstance(metric.value, CertFacts) and isinstance(metric.contextobj, ValidityContext):
            bounds = metric.contextobj.bounds
            found.append((0, metric.value, bounds))
        elif metric.context == CHAIN:
            found.append((metric.value.position, metric.value.facts, None))
    return sorted(
        ((pos, facts, b if pos == 0 else bounds) for pos, facts, b in found),
        key=lambda item: item[0],
    )
