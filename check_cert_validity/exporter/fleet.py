"""The fleet at a glance: the last probes' certificates on one time axis, as inline SVG.

The question the project exists for is whether many certificates will expire
together, and a person sees that faster than they read it. One bar per
certificate from notBefore to notAfter, grouped by issuer (one rotation
system each), coloured by its state; a tick where it turns WARNING (V-R
left) and one where it turns CRITICAL; ``now`` as a line. Expiries that fall
within the same 24 hours, a coordinated expiry in the making, are shaded on
the axis and counted in a sentence.

No JavaScript: the page must work where scripts are off. Everything from a
target or a certificate is HTML-escaped (the SVG is parsed as HTML).
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from check_cert_validity.judgement import Judgement

DAY = 86400.0
KEPT = 1000  # endpoints whose last probe the chart keeps
CLUSTER_SECONDS = DAY
COLOURS = {"OK": "#2e7d32", "WARNING": "#f9a825", "CRITICAL": "#c62828", "UNKNOWN": "#757575"}
LABEL_WIDTH = 330
CHART_WIDTH = 780
ROW = 18
BAR = 12
HEADER = 22
AXIS = 34


@dataclass(frozen=True, slots=True)
class FleetCert:
    """One probed certificate, as the chart draws it; times are Unix seconds."""

    target: str
    module: str
    name: str
    issuer: str
    not_before: float
    not_after: float
    warning_at: float | None
    critical_at: float | None
    state: str


def certificates(judgement: Judgement, target: str, module: str) -> tuple[FleetCert, ...]:
    """The chart's view of one probe's judged certificates."""
    found = []
    for cert in judgement.certificates:
        if cert.kind != "certificate":
            continue  # the chart is of certificates; a CRL is not renewed by the same system
        bounds = cert.bounds
        end = cert.facts.not_after.timestamp()
        warning = critical = None
        if bounds is not None:
            warning = end - bounds.warn_below
            point = bounds.critical_point()
            critical = end - point if point is not None else None
        found.append(
            FleetCert(
                target,
                module,
                cert.facts.name,
                cert.facts.issuer_name,
                cert.facts.not_before.timestamp(),
                end,
                warning,
                critical,
                cert.state.name,
            )
        )
    return tuple(found)


def clusters(certs: Sequence[FleetCert]) -> list[tuple[float, float, int]]:
    """Expiries less than 24 hours after a first one, two or more: (first, last, count)."""
    ends = sorted(cert.not_after for cert in certs)
    found = []
    i = 0
    while i < len(ends):
        j = i
        while j < len(ends) and ends[j] < ends[i] + CLUSTER_SECONDS:
            j += 1
        if j - i >= 2:
            found.append((ends[i], ends[j - 1], j - i))
            i = j
        else:
            i += 1
    return found


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _when(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(seconds))


def sentence(certs: Sequence[FleetCert]) -> str:
    """How many certificates expire within the same 24 hours (plain text)."""
    found = clusters(certs)
    if not found:
        return f"{len(certs)} certificates; no two expire within the same 24 hours."
    parts = [f"{count} expire within 24 hours from {_when(start)} UTC" for start, _, count in found]
    clustered = sum(count for _, _, count in found)
    return (
        f"{len(certs)} certificates; {clustered} of them expire together with another "
        f"within the same 24 hours: " + "; ".join(parts) + "."
    )


def svg(certs: Iterable[FleetCert], now: float) -> str:
    """The chart, or a line saying there is nothing to draw yet."""
    shown = sorted(certs, key=lambda c: (c.issuer, c.not_after, c.target))
    if not shown:
        return "<p>No certificate probed yet.</p>"
    start = min(min(c.not_before for c in shown), now)
    end = max(max(c.not_after for c in shown), now)
    span = max(end - start, DAY)

    def x(seconds: float) -> float:
        return LABEL_WIDTH + (seconds - start) / span * CHART_WIDTH

    groups: dict[str, list[FleetCert]] = {}
    for cert in shown:
        groups.setdefault(cert.issuer, []).append(cert)
    height = AXIS + sum(HEADER + ROW * len(group) for group in groups.values()) + 8
    width = LABEL_WIDTH + CHART_WIDTH + 20
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="fleet" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" '
        'font-size="11" role="img" aria-label="certificate lifetimes on one time axis">'
    ]
    for first, last, count in clusters(shown):
        parts.append(
            f'<rect class="cluster" x="{x(first) - 3:.1f}" y="{AXIS - 6}" '
            f'width="{max(x(last) - x(first), 6):.1f}" height="{height - AXIS}" '
            'fill="#7b1fa2" fill-opacity="0.3" stroke="#7b1fa2">'
            f"<title>{count} certificates expire within 24 hours from {_when(first)} UTC</title>"
            "</rect>"
        )
    for step in range(6):
        tick = start + span * step / 5
        anchor = {0: "start", 5: "end"}.get(step, "middle")  # the end labels stay inside
        parts.append(
            f'<line x1="{x(tick):.1f}" y1="{AXIS - 8}" x2="{x(tick):.1f}" y2="{height}" '
            'stroke="#ddd"/>'
            f'<text x="{x(tick):.1f}" y="{AXIS - 12}" text-anchor="{anchor}">'
            f"{time.strftime('%Y-%m-%d', time.gmtime(tick))}</text>"
        )
    y = AXIS
    for issuer, group in groups.items():
        parts.append(
            f'<text class="issuer" x="4" y="{y + 15}" font-weight="bold">'
            f"issuer: {_e(issuer)}</text>"
        )
        y += HEADER
        for cert in group:
            parts.append(_bar(cert, x, y))
            y += ROW
    parts.append(
        f'<line class="now" x1="{x(now):.1f}" y1="{AXIS - 8}" x2="{x(now):.1f}" y2="{height}" '
        'stroke="#1565c0" stroke-width="2"/>'
        f'<text x="{x(now) + 3:.1f}" y="{height - 2}" fill="#1565c0">now</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _bar(cert: FleetCert, x: Callable[[float], float], y: float) -> str:
    colour = COLOURS.get(cert.state, COLOURS["UNKNOWN"])
    label = f"{cert.target} {cert.name}".strip()
    if len(label) > 52:
        label = label[:51] + "…"
    left, right = x(cert.not_before), x(cert.not_after)
    title = (
        f"{cert.target} ({cert.module}): {cert.name}, issuer {cert.issuer}, "
        f"{_when(cert.not_before)} to {_when(cert.not_after)} UTC, {cert.state}"
    )
    out = [
        f'<g class="cert" data-state="{_e(cert.state)}" data-target="{_e(cert.target)}">'
        f"<title>{_e(title)}</title>"
        f'<text x="14" y="{y + BAR - 2}">{_e(label)}</text>'
        f'<rect class="bar" x="{left:.1f}" y="{y}" width="{max(right - left, 2):.1f}" '
        f'height="{BAR}" fill="{colour}"/>'
    ]
    for kind, at, stroke in (
        ("warning", cert.warning_at, "#e65100"),
        ("critical", cert.critical_at, "#4a0000"),
    ):
        if at is not None and cert.not_before <= at <= cert.not_after:
            out.append(
                f'<line class="{kind}-point" x1="{x(at):.1f}" y1="{y - 2}" x2="{x(at):.1f}" '
                f'y2="{y + BAR + 2}" stroke="{stroke}" stroke-width="2"/>'
            )
    out.append("</g>")
    return "".join(out)
