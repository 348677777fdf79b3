"""A probe's answer: exactly what ``--output openmetrics`` prints, plus ``probe_duration_seconds``.

The series come from the plugin's own faces (``gauges.samples`` and
``openmetrics.render``), so the exporter and the plugin cannot drift apart;
``probe_duration_seconds`` (blackbox_exporter's name, which dashboards
already know) goes in before the closing ``# EOF``.
"""

from __future__ import annotations

from check_cert_validity import gauges, openmetrics
from check_cert_validity.judgement import Judgement

# OpenMetrics 1.0 with the 0.0.4 text format readable in it (see openmetrics.py);
# Prometheus asks for either, and both parse this text.
CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
PLAIN_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_EOF = "# EOF\n"
_DURATION = (
    "# HELP probe_duration_seconds How long the probe took: resolving, connecting, the handshake.\n"
    "# TYPE probe_duration_seconds gauge\n"
    "# UNIT probe_duration_seconds seconds\n"
    "probe_duration_seconds "
)


def probe_text(judgement: Judgement, host: str, port: int, sni: str | None, duration: float) -> str:
    """The /probe body for one judged endpoint."""
    text = openmetrics.render(gauges.samples(judgement, host, port, sni))
    return f"{text[: -len(_EOF)]}{_DURATION}{round(duration, 6)!r}\n{_EOF}"


def content_type(accept: str) -> str:
    """OpenMetrics when the scraper accepts it, else the 0.0.4 text type (same body)."""
    return CONTENT_TYPE if "application/openmetrics-text" in accept else PLAIN_TYPE
