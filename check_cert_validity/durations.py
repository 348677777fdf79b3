"""Durations as the command line writes them and as people read them.

Everything here works in seconds (floats). ``parse_duration`` accepts
``90d``, ``36h``, ``1w``, ``30m``, ``45s`` and a bare number, which means
days (the unit operators think in). ``format_duration`` prints days with one
decimal from 2 days up, hours below that, minutes below an hour.
"""

from __future__ import annotations

import math

MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0
WEEK = 7 * DAY

_UNITS = {"s": 1.0, "m": MINUTE, "h": HOUR, "d": DAY, "w": WEEK}
_DIGITS = frozenset("0123456789")


def _split(text: str) -> tuple[str, str] | None:
    """``(number, unit)`` for ``[+-]digits[.digits] [unit]``, else None.

    Written out rather than as a regular expression: compiling one costs more
    start-up time than everything else in this module (issue 7).
    """
    body = text.strip()
    unit = ""
    if body and body[-1].lower() in _UNITS:
        unit, body = body[-1].lower(), body[:-1].rstrip()
    digits = body[1:] if body[:1] in ("+", "-") else body
    if not digits or digits.count(".") > 1 or not set(digits) <= _DIGITS | {"."}:
        return None
    if not set(digits) & _DIGITS:
        return None
    return body, unit


class DurationError(ValueError):
    """The text is not a duration this plugin understands."""


def parse_duration(text: str, *, allow_negative: bool = False) -> float:
    """Return the duration ``text`` names, in seconds.

    >>> parse_duration("36h")
    129600.0
    """
    parts = _split(text)
    if parts is None:
        raise DurationError(
            f"invalid duration {text!r}: use a number with an optional unit "
            "s, m, h, d or w (a bare number means days), e.g. 90d, 36h, 1w"
        )
    number, unit = parts
    seconds = float(number) * _UNITS.get(unit, DAY)
    if not math.isfinite(seconds):  # 400 digits make float() return inf
        raise DurationError(f"invalid duration {text[:20]!r}...: too large")
    if seconds < 0 and not allow_negative:
        raise DurationError(f"invalid duration {text!r}: must not be negative")
    return seconds


def format_duration(seconds: float) -> str:
    """Render a duration for people: ``14.2d``, ``7.5h``, ``12m``, ``40s``."""
    sign = "-" if seconds < 0 else ""
    magnitude = abs(seconds)
    if magnitude >= 2 * DAY:
        return f"{sign}{magnitude / DAY:.1f}d"
    if magnitude >= HOUR:
        return f"{sign}{magnitude / HOUR:.1f}h"
    if magnitude >= MINUTE:
        return f"{sign}{magnitude / MINUTE:.0f}m"
    return f"{sign}{magnitude:.0f}s"
