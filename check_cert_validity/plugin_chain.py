"""nagiosplugin glue for ``--chain``: a metric per certificate above the leaf.

Each is judged by the leaf's lower bounds (``chain.judge_issuer``); loaded
only when ``--chain`` is given.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Optional, Sequence

import nagiosplugin
from nagiosplugin.state import Unknown

from check_cert_validity import chain
from check_cert_validity.certinfo import CertFacts
from check_cert_validity.plugin import CHAIN, NAGIOS_STATES
from check_cert_validity.thresholds import Bounds, Policy, ThresholdError

if TYPE_CHECKING:
    from cryptography import x509


def chain_metrics(leaf: CertFacts, above: Sequence[x509.Certificate]) -> list[nagiosplugin.Metric]:
    """One ``chain`` metric per certificate above the leaf, named by position."""
    rest = [CertFacts.from_certificate(cert) for cert in above]
    return [
        nagiosplugin.Metric(chain.perf_label(element.position), element, context=CHAIN)
        for element in chain.elements(leaf, rest)
    ]


class ChainContext(nagiosplugin.Context):
    """Judges a certificate above the leaf by the leaf's lower bounds (``--chain``)."""

    def __init__(self, policy: Policy, now: datetime, label: str) -> None:
        super().__init__(CHAIN)
        self.policy = policy
        self.now = now
        self.label = label

    def _bounds(self, element: chain.ChainElement) -> Bounds:
        return Bounds.derive(self.policy, element.leaf.lifetime)

    def evaluate(self, metric: nagiosplugin.Metric, resource: object) -> nagiosplugin.Result:
        element: chain.ChainElement = metric.value
        try:
            bounds = self._bounds(element)
        except ThresholdError as exc:
            return nagiosplugin.Result(Unknown, f"{self.label} {element.where}: {exc}", metric)
        facts = element.facts
        verdict = chain.judge_issuer(facts.time_left(self.now), facts.age(self.now), bounds)
        text = chain.describe(element, self.label, self.now, verdict)
        return nagiosplugin.Result(NAGIOS_STATES[verdict.state], text, metric)

    def performance(
        self, metric: nagiosplugin.Metric, resource: object
    ) -> Optional[nagiosplugin.Performance]:
        element: chain.ChainElement = metric.value
        try:
            warning, critical = chain.lower_ranges(self._bounds(element))
        except ThresholdError:
            return None
        return nagiosplugin.Performance(
            metric.name,
            round(element.facts.time_left(self.now)),
            "s",
            str(warning),
            str(critical),
            "",
            round(element.facts.lifetime),
        )
