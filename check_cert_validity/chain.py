"""The whole chain (``--chain``): pure rules over certificate facts, no clock, no IO.

"The chain" is every certificate the server presents, in the order it sends
them (``get_peer_cert_chain``), or every certificate a file holds, leaf
first. Position 0 is the leaf; it is judged by the full validity/rotation
model (``thresholds.judge``). Every other certificate is judged by the lower
bounds only, derived from the leaf's bounds: expired, not yet valid, below
the CRITICAL bound, below the WARNING bound. The upper bound ("not issued by
the rotation system") and the age rule describe the leaf's rotation and do
not apply to CA certificates, which live for years by design. The limiting
certificate is the one that expires first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

from check_cert_validity.certinfo import CertFacts, utc_minute
from check_cert_validity.durations import format_duration
from check_cert_validity.record import Record
from check_cert_validity.thresholds import (
    CRITICAL,
    OK,
    WARNING,
    Bounds,
    Judgement,
    TimeRange,
)


class ChainElement(Record):
    """A certificate above the leaf, with the leaf it is judged alongside."""

    __slots__ = ("facts", "leaf", "position")
    position: int
    facts: CertFacts
    leaf: CertFacts

    def __init__(self, position: int, facts: CertFacts, leaf: CertFacts) -> None:
        self._set(position=position, facts=facts, leaf=leaf)

    @property
    def role(self) -> str:
        """``root`` for a self-issued certificate, else ``intermediate``."""
        return "root" if self.facts.self_issued else "intermediate"

    @property
    def where(self) -> str:
        """The position as ``-v`` lists it: ``chain[1]``."""
        return f"chain[{self.position}]"


def elements(leaf: CertFacts, rest: Sequence[CertFacts]) -> tuple[ChainElement, ...]:
    """The certificates after the leaf, numbered from 1."""
    return tuple(ChainElement(i, facts, leaf) for i, facts in enumerate(rest, start=1))


def perf_label(position: int) -> str:
    """Perfdata label: ``time_left`` for the leaf, ``time_left_chain1`` and on above it."""
    return "time_left" if position == 0 else f"time_left_chain{position}"


def lower_ranges(bounds: Bounds) -> tuple[TimeRange, TimeRange]:
    """WARNING and CRITICAL ranges for a certificate above the leaf: no upper bound."""
    warning = bounds.warning if bounds.warning is not None else TimeRange(bounds.warn_below)
    return warning, bounds.critical_range()


def judge_issuer(time_left: float, age: float, bounds: Bounds) -> Judgement:
    """A CA certificate's state: the lower bounds of the leaf's model only."""
    if age < 0:
        return Judgement(CRITICAL, (f"not valid for another {format_duration(-age)}",))
    if time_left <= 0:
        return Judgement(CRITICAL, (f"expired {format_duration(-time_left)} ago",))
    warning, critical = lower_ranges(bounds)
    if critical.alerts(time_left):
        if bounds.critical is not None:
            return Judgement(CRITICAL, (f"critical when {critical.describe()}",))
        return Judgement(CRITICAL, (f"critical below {format_duration(bounds.crit_below)}",))
    if warning.alerts(time_left):
        if bounds.warning is not None:
            return Judgement(WARNING, (f"warning when {warning.describe()}",))
        return Judgement(WARNING, (f"warning below {format_duration(bounds.warn_below)}",))
    return Judgement(OK, ())


def describe(element: ChainElement, label: str, now: datetime, verdict: Judgement) -> str:
    """Status text naming the certificate by role, subject and position."""
    facts = element.facts
    who = f"{label} {element.role} '{facts.name}' ({element.where})"
    left, age = facts.time_left(now), facts.age(now)
    if age < 0:
        return f"{who} is {verdict.reasons[0]} (notBefore {utc_minute(facts.not_before)})"
    if left <= 0:
        return f"{who} {verdict.reasons[0]} ({utc_minute(facts.not_after)})"
    before = ", before the leaf" if facts.not_after < element.leaf.not_after else ""
    why = "".join(f", {reason}" for reason in verdict.reasons)
    return f"{who} expires in {format_duration(left)}{before}{why} ({utc_minute(facts.not_after)})"
