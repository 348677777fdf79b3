"""The Monitoring Plugins status line: ``CERT_VALIDITY STATE - text | perfdata``.

Light on purpose: usage errors, ``--explain`` and internal errors write it
without loading nagiosplugin.
"""

from __future__ import annotations

PREFIX = "CERT_VALIDITY"


def one_line(text: str) -> str:
    """Last line of defence: no line breaks and no ``|`` in plugin text."""
    return " ".join(text.replace("|", "\\x7c").split())


def status_line(state: str, text: str, perfdata: str = "") -> str:
    """``CERT_VALIDITY STATE - text | perfdata``."""
    line = f"{PREFIX} {state} - {one_line(text)}"
    return f"{line} | {perfdata}" if perfdata else line
