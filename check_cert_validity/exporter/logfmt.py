"""Log lines in logfmt, the way Prometheus' own programs write them.

``ts=2026-12-02T02:10:00.123Z level=warn msg="probe failed" target=... module=...``:
one line per record, whatever it carries. Values that come from outside
(a target from a scrape's query string, a reason quoting a certificate's
subject) are untrusted: they are quoted, and every control character,
quote, backslash and Unicode line or paragraph separator in them is
escaped, so that no value can end the line, forge a key or add a record.

Fields beyond ``msg`` go in as ``extra={"fields": {...}}``; an exception is
one ``err`` field, never a traceback.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping

# Prometheus' names for the levels (go-kit's level package, slog's lower case)
LEVEL_NAMES = {"WARNING": "warn", "CRITICAL": "error"}
_BARE = re.compile(r"[A-Za-z0-9_.:/@+\-\[\]]+")
_KEY = re.compile(r"[^A-Za-z0-9_.]")
_SIMPLE = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(char: str) -> str:
    if char in _SIMPLE:
        return _SIMPLE[char]
    code = ord(char)
    # C0, DEL, C1, and the separators some viewers break lines at
    if code < 0x20 or 0x7F <= code <= 0x9F or code in (0x2028, 0x2029):
        return f"\\u{code:04x}"
    return char


def value(text: object) -> str:
    """``text`` as a logfmt value: bare when it is safe so, else quoted and escaped."""
    shown = str(text)
    if _BARE.fullmatch(shown):
        return shown
    return '"' + "".join(_escape_char(char) for char in shown) + '"'


def key(name: str) -> str:
    """A field name with anything but letters, digits, ``_`` and ``.`` replaced."""
    return _KEY.sub("_", name) or "_"


def line(fields: Mapping[str, object]) -> str:
    """``key=value`` pairs, in order."""
    return " ".join(f"{key(name)}={value(item)}" for name, item in fields.items())


class Formatter(logging.Formatter):
    """A ``logging`` formatter writing :func:`line`."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        level = LEVEL_NAMES.get(record.levelname, record.levelname.lower())
        fields: dict[str, object] = {
            "ts": f"{stamp}.{int(record.msecs):03d}Z",
            "level": level,
            "msg": record.getMessage(),
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, Mapping):
            fields.update((str(name), item) for name, item in extra.items())
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            fields["err"] = f"{type(exc).__name__}: {exc}"
        return line(fields)
