"""A probe's answer: exactly what ``--output openmetrics`` prints, plus ``probe_duration_seconds``.

The series come from the plugin's own faces (``gauges.samples`` and
``openmetrics.render``), so the exporter and the plugin cannot drift apart;
``probe_duration_seconds`` (blackbox_exporter's name, which dashboards
already know) goes in before the closing ``# EOF``.

``Templates`` keeps, per endpoint and what was judged there, that text with
the two values that follow the clock (time left, age) left open: a fleet
answers alike probe after probe, and only those two (and the duration)
change between two probes of an unchanged certificate.
"""

from __future__ import annotations

from check_cert_validity import gauges, openmetrics
from check_cert_validity.judgement import Judgement

KEPT = 4096  # templates: one per endpoint, module and state is plenty

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


# The families whose values follow the clock, as ``render`` writes their series
_MOVING = (
    (gauges.TIME_LEFT.name + "{", gauges.TIME_LEFT),
    (gauges.AGE.name + "{", gauges.AGE),
)
Template = tuple[tuple[str, ...], tuple[tuple[int, gauges.Gauge], ...], object]


class Templates:
    """``probe_text`` from a text made once per endpoint and judged certificates.

    Everything but time left and age is a function of the key: the endpoint's
    labels, the overall state and success, the bounds (V, R and the policy
    they come from) and each certificate's position and fingerprint (its
    facts, and so its labels and dates, follow from the DER bytes).
    """

    def __init__(self, kept: int = KEPT) -> None:
        self._kept = kept
        self._made: dict[tuple[object, ...], Template] = {}

    def text(
        self, judgement: Judgement, host: str, port: int, sni: str | None, duration: float
    ) -> str:
        """Exactly ``probe_text(judgement, host, port, sni, duration)``."""
        bounds = judgement.bounds
        certs = judgement.certificates
        key = (
            host,
            port,
            sni,
            judgement.state,
            judgement.probe_success,
            None if bounds is None else (bounds.validity, bounds.rotation, id(bounds.policy)),
            tuple((cert.position, cert.facts.sha256) for cert in certs),
        )
        made = self._made.get(key)
        if made is None:
            made = self._make(judgement, host, port, sni)
            if len(self._made) >= self._kept:
                del self._made[next(iter(self._made))]  # the oldest
            self._made[key] = made
        pieces, slots, _policy = made
        now = judgement.now
        out = list(pieces)
        for index, (which, gauge) in enumerate(slots):
            facts = certs[which].facts
            seconds = facts.time_left(now) if gauge is gauges.TIME_LEFT else facts.age(now)
            out[2 * index + 1] = openmetrics.format_value(round(seconds, 3))
        out.append(f"{round(duration, 6)!r}\n{_EOF}")
        return "".join(out)

    @staticmethod
    def _make(judgement: Judgement, host: str, port: int, sni: str | None) -> Template:
        """The text split around its moving values, and which certificate each one is."""
        text = probe_text(judgement, host, port, sni, 0.0)
        head = text[: text.rindex(_DURATION) + len(_DURATION)]
        pieces: list[str] = []
        slots: list[tuple[int, gauges.Gauge]] = []
        seen = {gauge: 0 for _, gauge in _MOVING}
        start = 0
        for line_start, line in _lines(head):
            for prefix, gauge in _MOVING:
                if line.startswith(prefix):
                    value_at = line_start + line.rindex(" ") + 1
                    pieces.append(head[start:value_at])
                    pieces.append("")  # the value, filled in per probe
                    slots.append((seen[gauge], gauge))
                    seen[gauge] += 1
                    start = line_start + len(line)
        pieces.append(head[start:])
        # the policy stays referenced while its id() is part of a key
        policy = judgement.bounds.policy if judgement.bounds is not None else None
        return tuple(pieces), tuple(slots), policy


def _lines(text: str) -> list[tuple[int, str]]:
    found = []
    start = 0
    for line in text.split("\n"):
        found.append((start, line))
        start += len(line) + 1
    return found
