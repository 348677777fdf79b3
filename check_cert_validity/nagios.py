"""The Nagios face: a judgement as the status line, perfdata and long output.

nagiosplugin is the runtime, as a thin adapter over the judgement: the
resource yields each judged certificate and problem as a metric, one context
maps it to its state, hint and perfdata, one summary words the status line.
The rules all live in ``judgement.py``; nothing here decides a state.

The status line starts with the worst finding, and among equally bad
certificates the one that expires first; the other non-OK findings follow,
separated by ``; ``. When all is well it names the leaf, and also the
certificate that expires first when that is another one (``--chain``).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING

import nagiosplugin

from check_cert_validity.certinfo import CertFacts, clean, utc_minute
from check_cert_validity.durations import format_duration
from check_cert_validity.judgement import JudgedCert, Judgement, Problem
from check_cert_validity.output import PREFIX, one_line, status_line
from check_cert_validity.states import State

if TYPE_CHECKING:
    from collections.abc import Iterable

    from check_cert_validity.crlinfo import CrlFacts  # loaded only where there are CRLs

_NAGIOS_STATES = {
    State.OK: nagiosplugin.state.Ok,
    State.WARNING: nagiosplugin.state.Warn,
    State.CRITICAL: nagiosplugin.state.Critical,
    State.UNKNOWN: nagiosplugin.state.Unknown,
}


def perf_label(position: int, kind: str = "certificate") -> str:
    """Perfdata label: ``time_left`` for the leaf, ``time_left_chain1`` and on above it;
    ``crl_time_left``, ``crl_time_left1`` and on for CRLs."""
    if kind == "crl":
        return "crl_time_left" if position == 0 else f"crl_time_left{position}"
    return "time_left" if position == 0 else f"time_left_chain{position}"


class Findings(nagiosplugin.Resource):
    """Yields what the judgement found, certificates first, as metrics."""

    def __init__(self, judgement: Judgement) -> None:
        self.judgement = judgement

    @property
    def name(self) -> str:
        return PREFIX

    def probe(self) -> list[nagiosplugin.Metric]:
        found: list[JudgedCert | Problem] = [*self.judgement.certificates]
        found.extend(self.judgement.problems)
        return [
            nagiosplugin.Metric(
                perf_label(item.position, item.kind)
                if isinstance(item, JudgedCert)
                else f"{item.kind}{index}",
                item,
                context="finding",
            )
            for index, item in enumerate(found)
        ]


class FindingContext(nagiosplugin.Context):
    """A finding's own state and text; a certificate's time left as perfdata."""

    def __init__(self, now: datetime) -> None:
        super().__init__("finding")
        self.now = now

    def evaluate(self, metric: nagiosplugin.Metric, resource: object) -> nagiosplugin.Result:
        item: JudgedCert | Problem = metric.value
        return nagiosplugin.Result(_NAGIOS_STATES[item.state], item.text, metric)

    def performance(
        self, metric: nagiosplugin.Metric, resource: object
    ) -> nagiosplugin.Performance | None:
        item: JudgedCert | Problem = metric.value
        if not isinstance(item, JudgedCert) or item.warning is None:
            return None
        return nagiosplugin.Performance(
            metric.name,
            round(item.facts.time_left(self.now)),
            "s",
            str(item.warning),
            str(item.critical),
            "",
            round(item.facts.lifetime),
        )


def _expiry(item: JudgedCert | Problem) -> float:
    """Sort key: a certificate's notAfter; problems after all certificates."""
    return item.facts.not_after.timestamp() if isinstance(item, JudgedCert) else math.inf


def _findings(results: Iterable[nagiosplugin.Result]) -> list[JudgedCert | Problem]:
    return [result.metric.value for result in results if result.metric is not None]


def _notes(found: list[JudgedCert | Problem]) -> list[str]:
    """What the line says whatever the state (a leaf without a CRL to fetch, say)."""
    return [item.text for item in found if isinstance(item, Problem) and item.kind == "note"]


class FindingSummary(nagiosplugin.Summary):
    """The status line's text and the long output, from the judgement."""

    def __init__(self, judgement: Judgement, verbose: int) -> None:
        self.judgement = judgement
        self.verbose_level = verbose

    def ok(self, results: nagiosplugin.Results) -> str:
        found = _findings(results.results)  # in the order the resource yielded them
        first, earliest = found[0], min(found, key=_expiry)
        said = [first]
        if _expiry(earliest) < _expiry(first):
            said.append(earliest)
        if isinstance(first, JudgedCert) and first.kind == "certificate":
            # a CRL judged beside the certificate is said too, however late it
            # expires (or why it could not be read, when that was made OK): it
            # is the other half of what the check watches
            said.extend(item for item in found if item.kind == "crl" and item not in said)
        return "; ".join([item.text for item in said] + _notes(found))

    def problem(self, results: nagiosplugin.Results) -> str:
        found = _findings(results.results)
        bad = [item for item in found if item.state != State.OK]
        bad.sort(key=lambda item: (-item.state, _expiry(item)))
        return "; ".join([item.text for item in bad] + _notes(found))

    def verbose(self, results: nagiosplugin.Results) -> list[str]:
        return long_output(self.judgement, self.verbose_level)


def describe(facts: CertFacts | CrlFacts, now: datetime) -> list[str]:
    """Long output lines about one certificate or CRL."""
    times = (
        f"lifetime: {format_duration(facts.lifetime)}, age {format_duration(facts.age(now))}, "
        f"time left {format_duration(facts.time_left(now))}"
    )
    if not isinstance(facts, CertFacts):
        return [
            f"CRL issuer: {facts.issuer}",
            f"CRL number: {facts.serial or 'none'}",
            f"revoked entries: {facts.revoked}",
            f"SHA-256: {facts.sha256}",
            f"thisUpdate: {facts.not_before.isoformat()}",
            f"nextUpdate: {facts.not_after.isoformat()}",
            times,
        ]
    sans = ", ".join(facts.sans) if facts.sans else "none"
    return [
        f"subject: {facts.subject}",
        f"issuer: {facts.issuer}{' (self-issued)' if facts.self_issued else ''}",
        f"subjectAltName: {sans}",
        f"serial: {facts.serial}",
        f"SHA-256: {facts.sha256}",
        f"notBefore: {facts.not_before.isoformat()}",
        f"notAfter: {facts.not_after.isoformat()}",
        times,
    ]


def long_output(judgement: Judgement, verbose: int) -> list[str]:
    """``-v``: the leaf, the expected range, the file it should be, then how it was read."""
    acquired, now, bounds = judgement.acquired, judgement.now, judgement.bounds
    if not judgement.certificates:
        return []
    first = judgement.certificates[0].facts
    lines = describe(first, now)
    if bounds is not None:
        v, r = format_duration(bounds.validity), format_duration(bounds.rotation)
        lines.append(
            f"expected time left: {format_duration(bounds.warn_below)} to {v} "
            f"(V={v}{'' if bounds.upper is not None else ' from the lifetime'}, R={r}); "
            f"WARNING {bounds.warning_range().describe()}, "
            f"CRITICAL {bounds.critical_range().describe()}"
        )
    disk, served = acquired.expected, first
    if isinstance(disk, CertFacts) and isinstance(served, CertFacts):
        same = "the same as served" if disk.der == served.der else "differs"
        lines.append(
            f"expect-file: {acquired.expected_label}: {same}; '{disk.name}' serial {disk.serial}, "
            f"notBefore {utc_minute(disk.not_before)}, notAfter {utc_minute(disk.not_after)}, "
            f"SHA-256 {disk.sha256}"
        )
    session, bundle = acquired.session, acquired.bundle
    if session is not None:
        lines.append(
            f"endpoint: {acquired.label} (connected to {session.peer}), "
            f"{session.tls_version} {session.cipher}".rstrip()
        )
        if session.skipped:
            lines.append(f"addresses that did not answer first: {'; '.join(session.skipped)}")
        if session.handshake_error:
            lines.append(f"handshake: {session.handshake_error} (after the certificate arrived)")
    if bundle is not None:
        held = [_count(len(bundle.certificates), "certificate")] if bundle.certificates else []
        if bundle.crls:
            held.append(_count(len(bundle.crls), "CRL"))
        skipped = f"; skipped: {', '.join(bundle.skipped)}" if bundle.skipped else ""
        head = f"file: {acquired.label} ({bundle.encoding}, {', '.join(held)}{skipped})"
        lines.append(clean(head, 300))
    for position, facts in enumerate(acquired.certificates[1:], start=1):
        lines.append(f"chain[{position}]: {facts.subject} (notAfter {utc_minute(facts.not_after)})")
    for judged in judgement.certificates[1:]:
        if not isinstance(judged.facts, CertFacts):
            lines.append(f"{judged.facts.title}:")
            lines.extend(describe(judged.facts, now))
    if session is not None and verbose >= 2 and session.timings:
        steps = ", ".join(f"{k} {v * 1000:.1f}ms" for k, v in session.timings.items())
        lines.append(f"timings (cumulative): {steps}")
    return lines


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def render(judgement: Judgement, verbose: int) -> tuple[str, int]:
    """The whole plugin output for a judgement, and the exit code.

    Written here rather than by nagiosplugin's Runtime so that the perfdata
    always stays on the status line and nothing is process-global.
    """
    check = nagiosplugin.Check(
        Findings(judgement),
        FindingContext(judgement.now),
        FindingSummary(judgement, verbose),
    )
    check()
    perfdata = " ".join(str(p) for p in check.perfdata if p)
    lines = [status_line(str(check.state).upper(), check.summary_str, perfdata)]
    if verbose >= 1:
        lines.extend(one_line(line) for line in check.verbose_str)
    return "\n".join(lines) + "\n", check.exitcode
