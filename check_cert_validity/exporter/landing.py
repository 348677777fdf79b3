"""The landing page at ``/``: the fleet's chart, the modules and the last probes, as plain HTML.

Everything that comes from a scraper (the target) or from a certificate is
HTML-escaped: the page must not run what a hostile target name says.
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from check_cert_validity import __version__
from check_cert_validity.exporter import fleet
from check_cert_validity.exporter.config import Config

RECENT = 100  # probes the page lists


@dataclass(frozen=True, slots=True)
class ProbeRecord:
    """One finished probe, as the page lists it."""

    at: float  # Unix time
    module: str
    target: str
    state: str
    success: bool
    seconds: float
    summary: str


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def page(
    config: Config,
    recent: Iterable[ProbeRecord],
    certs: Sequence[fleet.FleetCert] = (),
    now: float | None = None,
) -> str:
    """The whole page."""
    now = time.time() if now is None else now
    rows = []
    for name, module in sorted(config.modules.items()):
        keys = ", ".join(f"{key}: {value}" for key, value in module.given) or "(plugin defaults)"
        rows.append(f"<tr><td>{_e(name)}</td><td>{_e(keys)}</td></tr>")
    probes = []
    for record in reversed(list(recent)):
        link = "/probe?" + urlencode(
            {"target": record.target, "module": record.module, "debug": "true"}
        )
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(record.at))
        probes.append(
            f"<tr><td>{when}</td><td>{_e(record.module)}</td><td>{_e(record.target)}</td>"
            f"<td>{_e(record.state)}</td><td>{1 if record.success else 0}</td>"
            f"<td>{record.seconds:.3f}s</td><td>{_e(record.summary)}</td>"
            f'<td><a href="{_e(link)}">debug</a></td></tr>'
        )
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        "<title>check_cert_validity exporter</title></head><body>\n"
        f"<h1>check_cert_validity exporter {_e(__version__)}</h1>\n"
        '<p><a href="/metrics">Metrics</a> · config: '
        f"{_e(config.source)} · probe: <code>/probe?target=HOST:PORT&amp;module=NAME</code></p>\n"
        "<h2>The fleet at a glance</h2>\n"
        f'<p class="clusters">{_e(fleet.sentence(certs))}</p>\n'
        f"{fleet.svg(certs, now)}\n"
        "<p>Bars: notBefore to notAfter, by issuer; colour: the state (green OK, amber "
        "WARNING, red CRITICAL); orange tick: WARNING from here (V-R left); dark tick: "
        "CRITICAL from here; blue line: now; purple band: expiries within the same 24 "
        "hours.</p>\n"
        '<h2>Modules</h2>\n<table border="1"><tr><th>module</th><th>options</th></tr>\n'
        + "\n".join(rows)
        + '\n</table>\n<h2>Recent probes</h2>\n<table border="1"><tr><th>time (UTC)</th>'
        "<th>module</th><th>target</th><th>state</th><th>success</th><th>duration</th>"
        "<th>summary</th><th></th></tr>\n" + "\n".join(probes) + "\n</table>\n</body></html>\n"
    )
