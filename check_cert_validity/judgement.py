"""The judgement: what was acquired, the policy and ``now`` in; one immutable value out.

Pure: no IO, no clock, no nagiosplugin. ``judge()`` derives the bounds once
(from the leaf's lifetime and the policy), judges the leaf by the whole
model and, with ``--chain``, every certificate above it by the lower bounds
(``thresholds``), compares the served leaf with the one on disk for
``--expect-file``, and turns a missing certificate into a problem. Every
face (the Nagios line, OpenMetrics, StatsD, the exporter) renders the
``Judgement`` it returns and nothing else.

CRLs are judged by the same model (``crlinfo``): alone (a file of CRLs, a
CRL fetched by URL) with the operator's policy, as a certificate would be;
beside certificates with a policy of their own (``Policy.crl``: their own
lifetime unless ``--crl-validity``/``--crl-rotation`` say otherwise), since
a certificate's V says nothing about how long a CA makes its CRLs valid.

Failed uptake (``--expect-file``) compares DER bytes, never subjects: a
renewed certificate usually keeps its subject. When they differ it is a
WARNING saying which one is newer; when the one on disk is newer and was
written longer than R ago, the service has missed a whole rotation, and the
text says so in the model's words. It stays a WARNING: the urgency follows
the served certificate's own time left, judged as usual, and the uptake text
says what that is.
"""

# Annotations are evaluated here (no ``from __future__ import annotations``):
# typing.NamedTuple compiles every annotation given as a string when the class
# is made, and every check pays for that at start-up.

from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from check_cert_validity.certinfo import CertFacts, utc_minute
from check_cert_validity.durations import format_duration
from check_cert_validity.states import State
from check_cert_validity.thresholds import (
    Bounds,
    Policy,
    ThresholdError,
    TimeRange,
    Verdict,
    issuer_verdict,
    leaf_verdict,
)

if TYPE_CHECKING:  # what acquisition adds for the long output; transport loads OpenSSL.SSL
    from check_cert_validity.certfile import CertBundle
    from check_cert_validity.crlinfo import CrlFacts  # loaded only where there are CRLs
    from check_cert_validity.transport import Fetched


# What the two dates are called in the text, by what was judged.
_DATES = {"certificate": ("notBefore", "notAfter"), "crl": ("thisUpdate", "nextUpdate")}


class Unreadable(NamedTuple):
    """Why no certificate (or CRL) could be read. ``cannot_look``: UNKNOWN, since
    it says nothing about the validity: the fault is on our side (permission
    denied, a directory), or there is no date to judge (a CRL without
    nextUpdate)."""

    reason: str
    cannot_look: bool = False


class AcquiredCrl(NamedTuple):
    """One CRL and where it came from (``label``: a file or a URL), or why it is missing."""

    label: str
    crl: "CrlFacts | Unreadable"


class Acquired(NamedTuple):
    """What acquisition found: the certificates, leaf first, or why there are none.

    ``label`` names the endpoint (``host:port``), the file or the URL as
    plugin text shows it. ``crls`` are judged alone when there is no
    certificate, else beside them. ``expected`` is ``--expect-file``'s leaf
    (or why it could not be read), named ``expected_label``. ``notes`` are
    said in the status line without changing the state. ``session`` (an
    endpoint) and ``bundle`` (a file) are kept for the long output only.
    """

    label: str
    certificates: tuple[CertFacts, ...] = ()
    unreadable: Unreadable | None = None
    expected: CertFacts | Unreadable | None = None
    expected_label: str = ""
    session: "Fetched | None" = None
    bundle: "CertBundle | None" = None
    is_file: bool = False
    crls: tuple[AcquiredCrl, ...] = ()
    notes: tuple[str, ...] = ()


class JudgedCert(NamedTuple):
    """One judged certificate or CRL: its position, state and text.

    ``position`` counts within its kind: a certificate's place in the chain
    (0 = the leaf), a CRL's place among the CRLs. ``bounds`` are what it was
    judged by, ``warning`` and ``critical`` the ranges it was held to (None
    when no bounds could be derived).
    """

    position: int
    facts: "CertFacts | CrlFacts"
    state: State
    text: str
    warning: TimeRange | None = None
    critical: TimeRange | None = None
    bounds: Bounds | None = None

    @property
    def kind(self) -> str:
        """``certificate`` or ``crl``."""
        return self.facts.kind


class Problem(NamedTuple):
    """Something other than a certificate's time: ``kind`` is ``endpoint``,
    ``file``, ``expect_file`` or ``crl`` (nothing read from it), ``uptake``, or
    ``note`` (said, always OK)."""

    kind: str
    state: State
    text: str


class Judgement(NamedTuple):
    """The whole verdict of one check, as of ``now``.

    ``certificates`` holds everything judged by time: the certificates
    (leaf first), then the CRLs. ``bounds`` are the leaf's (or, with no
    certificate, the first CRL's).
    """

    acquired: Acquired
    now: datetime
    bounds: Bounds | None
    certificates: tuple[JudgedCert, ...]
    problems: tuple[Problem, ...]
    state: State

    @property
    def probe_success(self) -> bool:
        """True when a certificate (or, checking CRLs alone, a CRL) was read."""
        return bool(self.certificates)


def judge(acquired: Acquired, policy: Policy, now: datetime) -> Judgement:
    """Judge what was acquired against ``policy`` as of ``now``.

    CRLs beside certificates are judged by ``policy.crl`` (default: their
    own lifetime); alone, by ``policy``.
    """
    certificates: list[JudgedCert] = []
    problems: list[Problem] = []
    bounds: Bounds | None = None
    if not acquired.certificates and acquired.crls and acquired.unreadable is None:
        certificates, problems = _judge_crls(acquired.crls, now, policy)
        bounds = certificates[0].bounds if certificates else None
    elif not acquired.certificates:
        problems.append(_unreadable("file" if acquired.is_file else "endpoint", acquired, policy))
    else:
        leaf = acquired.certificates[0]
        above = enumerate(acquired.certificates[1:] if policy.whole_chain else (), start=1)
        try:
            bounds = policy.bounds(leaf.lifetime)
        except ThresholdError as exc:
            certificates.append(_unbounded(acquired.label, leaf, now, exc))
            certificates.extend(
                JudgedCert(
                    position, facts, State.UNKNOWN, f"{acquired.label} chain[{position}]: {exc}"
                )
                for position, facts in above
            )
        else:
            certificates.append(_judge_leaf(acquired.label, leaf, now, bounds))
            certificates.extend(
                _judge_issuer(acquired.label, position, facts, leaf, now, bounds)
                for position, facts in above
            )
        if acquired.expected is not None:
            problems.extend(_uptake(acquired, leaf, now, bounds, policy))
        beside = policy.crl or Policy(unreachable=policy.unreachable)
        judged, missing = _judge_crls(acquired.crls, now, beside)
        certificates.extend(judged)
        problems.extend(missing)
    problems.extend(Problem("note", State.OK, note) for note in acquired.notes)
    states = [cert.state for cert in certificates] + [problem.state for problem in problems]
    state = max(states, default=State.UNKNOWN)
    return Judgement(acquired, now, bounds, tuple(certificates), tuple(problems), state)


def _unreadable(kind: str, acquired: Acquired, policy: Policy) -> Problem:
    why = acquired.unreadable or Unreadable("no certificate received")
    label = acquired.expected_label if kind == "expect_file" else acquired.label
    state = State.UNKNOWN if why.cannot_look else policy.unreachable
    return Problem(kind, state, f"{label}: {why.reason}")


def _judge_crls(
    crls: tuple[AcquiredCrl, ...], now: datetime, policy: Policy
) -> tuple[list[JudgedCert], list[Problem]]:
    """Each CRL by the whole model, as a leaf is, with bounds from its own lifetime.

    A CRL is no chain member: its publishing cadence is the CA's rotation.
    A CRL that could not be read, or has no nextUpdate, is a problem.
    """
    judged: list[JudgedCert] = []
    problems: list[Problem] = []
    for acquired_crl in crls:
        crl, position = acquired_crl.crl, len(judged)
        if isinstance(crl, Unreadable):
            state = State.UNKNOWN if crl.cannot_look else policy.unreachable
            problems.append(Problem("crl", state, f"{acquired_crl.label}: {crl.reason}"))
            continue
        try:
            bounds = policy.bounds(crl.lifetime)
        except ThresholdError as exc:
            judged.append(_unbounded(acquired_crl.label, crl, now, exc, position))
        else:
            judged.append(_judge_leaf(acquired_crl.label, crl, now, bounds, position))
    return judged, problems


def _unbounded(
    label: str, leaf: "CertFacts | CrlFacts", now: datetime, exc: ThresholdError, position: int = 0
) -> JudgedCert:
    """A leaf no bounds can be derived for (notAfter <= notBefore, say)."""
    who = f"{label} {leaf.title}"
    left = leaf.time_left(now)
    # Still, a certificate outside its validity period is rejected by every client.
    if left <= 0 or leaf.age(now) < 0:
        when = f"expired {format_duration(-left)} ago" if left <= 0 else "not yet valid"
        text = f"{who} {when} ({utc_minute(leaf.not_after)}), lifetime not positive"
        return JudgedCert(position, leaf, State.CRITICAL, text)
    return JudgedCert(position, leaf, State.UNKNOWN, f"{who}: {exc}")


def _judge_leaf(
    label: str, leaf: "CertFacts | CrlFacts", now: datetime, bounds: Bounds, position: int = 0
) -> JudgedCert:
    verdict = leaf_verdict(leaf.time_left(now), leaf.age(now), leaf.lifetime, bounds)
    running = f"has {format_duration(leaf.time_left(now))} left"
    ends = "expires " if leaf.kind == "certificate" else f"{_DATES[leaf.kind][1]} "
    text = _text(f"{label} {leaf.title}", leaf, now, verdict, running, ends)
    return JudgedCert(
        position,
        leaf,
        verdict.state,
        text,
        bounds.warning_range(),
        bounds.critical_range(),
        bounds,
    )


def _judge_issuer(
    label: str, position: int, facts: CertFacts, leaf: CertFacts, now: datetime, bounds: Bounds
) -> JudgedCert:
    verdict = issuer_verdict(facts.time_left(now), facts.age(now), bounds)
    role = "root" if facts.self_issued else "intermediate"
    before = ", before the leaf" if facts.not_after < leaf.not_after else ""
    running = f"expires in {format_duration(facts.time_left(now))}{before}"
    text = _text(f"{label} {role} '{facts.name}' (chain[{position}])", facts, now, verdict, running)
    warning, critical = bounds.lower_ranges()
    return JudgedCert(position, facts, verdict.state, text, warning, critical, bounds)


def _text(
    who: str,
    facts: "CertFacts | CrlFacts",
    now: datetime,
    verdict: Verdict,
    running: str,
    expires: str = "",
) -> str:
    """The status text: not yet valid, expired, or ``running`` (its time left) and the reasons."""
    if facts.age(now) < 0:
        start = f"{_DATES[facts.kind][0]} {utc_minute(facts.not_before)}"
        return f"{who} is {verdict.reasons[0]} ({start})"
    if facts.time_left(now) <= 0:
        ended = f"{_DATES[facts.kind][1]} " if facts.kind == "crl" else ""
        return f"{who} {verdict.reasons[0]} ({ended}{utc_minute(facts.not_after)})"
    why = "".join(f", {reason}" for reason in verdict.reasons)
    return f"{who} {running}{why} ({expires}{utc_minute(facts.not_after)})"


def _uptake(
    acquired: Acquired, served: CertFacts, now: datetime, bounds: Bounds | None, policy: Policy
) -> list[Problem]:
    """The served leaf against the file it should be: no problem when they match."""
    disk = acquired.expected
    if isinstance(disk, Unreadable):
        state = State.UNKNOWN if disk.cannot_look else policy.unreachable
        return [Problem("expect_file", state, f"{acquired.expected_label}: {disk.reason}")]
    assert disk is not None
    if served.der == disk.der:
        return []
    path = acquired.expected_label
    head = f"served certificate ({_identity(served)}) is not the one at {path} ({_identity(disk)})"
    if served.not_before > disk.not_before:
        why = f"the served one is newer; {path} holds an older one (a restart would serve it)"
    else:
        why = f"the service has not reloaded it; {_how_newer(disk, served, now, bounds)}"
    left, expiry = served.time_left(now), utc_minute(served.not_after)
    if left > 0:
        urgency = f"the served one has {format_duration(left)} left (expires {expiry})"
    else:
        urgency = f"the served one expired {format_duration(-left)} ago ({expiry})"
    return [Problem("uptake", State.WARNING, f"{acquired.label} {head}: {why}; {urgency}")]


def _identity(facts: CertFacts) -> str:
    return f"serial {facts.serial}, notBefore {utc_minute(facts.not_before)}"


def _how_newer(disk: CertFacts, served: CertFacts, now: datetime, bounds: Bounds | None) -> str:
    written = disk.age(now)
    if served.not_before == disk.not_before:
        return "both have the same notBefore"
    if written < 0:
        return f"the one on disk is newer and not valid for another {format_duration(-written)}"
    text = f"the one on disk is newer, written {format_duration(written)} ago"
    if bounds is not None and written > bounds.rotation:
        text += (
            f", longer than R {format_duration(bounds.rotation)}: rotation overdue by "
            f"{format_duration(written - bounds.rotation)}"
        )
    return text
