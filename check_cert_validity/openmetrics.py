"""Gauges as text exposition that Prometheus text 0.0.4 and OpenMetrics 1.0 both accept.

The text is Prometheus text format 0.0.4 (what node_exporter's textfile
collector and ``promtool check metrics`` read) whose only OpenMetrics
additions are ``# UNIT`` lines and the closing ``# EOF``: to a 0.0.4 parser
those are comments, and with them the same text is valid OpenMetrics 1.0.
Every family has ``# HELP`` and ``# TYPE``; families without samples are left
out; no blank lines.

Label values come from certificates and are untrusted: they are made valid
UTF-8, control characters become visible ``\\xNN`` text, and then ``\\``,
``"`` and newlines are escaped as both formats require, so no value can end
its label, its line or the exposition.
References: https://prometheus.io/docs/instrumenting/exposition_formats/ and
https://github.com/OpenObservability/OpenMetrics/blob/main/specification/OpenMetrics.md
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from check_cert_validity.gauges import Sample


def _visible(char: str) -> str:
    code = ord(char)
    if char != "\n" and (code < 0x20 or 0x7F <= code < 0xA0):
        return f"\\x{code:02x}"
    if char in "\u2028\u2029":
        return f"\\u{code:04x}"
    return char


def escape_label_value(value: str) -> str:
    """A label value safe between double quotes in either format."""
    # the common case (host names, serials, plain CNs) needs no escaping at all
    if value.isascii() and value.isprintable() and "\\" not in value and '"' not in value:
        return value
    # Lone surrogates (undecodable bytes smuggled into str) cannot be written as UTF-8.
    text = value.encode("utf-8", "backslashreplace").decode("utf-8")
    text = "".join(_visible(char) for char in text)
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    """HELP text on one line: ``\\`` and newlines escaped (as 0.0.4 and OpenMetrics do)."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    """A sample value: integers without a fraction, ``+Inf``/``-Inf``/``NaN`` spelt out."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def _labels(labels: tuple[tuple[str, str], ...]) -> str:
    return ",".join(f'{name}="{escape_label_value(value)}"' for name, value in labels)


def _series(sample: Sample, escaped: dict[tuple[tuple[str, str], ...], str]) -> str:
    # a certificate's labels repeat in every family: escape them once per render
    labels = escaped.get(sample.labels)
    if labels is None:
        labels = escaped[sample.labels] = _labels(sample.labels)
    selector = f"{sample.gauge.name}{{{labels}}}" if labels else sample.gauge.name
    return f"{selector} {format_value(sample.value)}"


def render(samples: Sequence[Sample]) -> str:
    """The exposition text for ``samples``, grouped by family in first-seen order."""
    families: dict[str, list[Sample]] = {}
    for sample in samples:
        families.setdefault(sample.gauge.name, []).append(sample)
    lines: list[str] = []
    escaped: dict[tuple[tuple[str, str], ...], str] = {}
    for name, members in families.items():
        gauge = members[0].gauge
        lines.append(f"# HELP {name} {escape_help(gauge.help)}")
        lines.append(f"# TYPE {name} gauge")
        if gauge.unit:
            lines.append(f"# UNIT {name} {gauge.unit}")
        lines.extend(_series(sample, escaped) for sample in members)
    lines.append("# EOF")
    return "\n".join(lines) + "\n"
