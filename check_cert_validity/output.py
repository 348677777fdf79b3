"""Render a finished nagiosplugin Check as Monitoring Plugins output text.

Status line ``CERT_VALIDITY STATE - text | perfdata`` and, with ``-v``, long
output lines. Written here rather than by nagiosplugin's Runtime so that the
perfdata always stays on the status line and nothing is process-global.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    import nagiosplugin

PREFIX = "CERT_VALIDITY"


def one_line(text: str) -> str:
    """Last line of defence: no line breaks and no ``|`` in plugin text."""
    return " ".join(text.replace("|", "\\x7c").split())


def status_line(state: str, text: str, perfdata: str = "") -> str:
    """``CERT_VALIDITY STATE - text | perfdata``."""
    line = f"{PREFIX} {state} - {one_line(text)}"
    return f"{line} | {perfdata}" if perfdata else line


def render(check: nagiosplugin.Check, verbose: int) -> str:
    """The whole plugin output for a check that has been run."""
    state = str(check.state).upper()
    perfdata = " ".join(str(p) for p in check.perfdata if p)
    lines = [status_line(state, check.summary_str, perfdata)]
    if verbose >= 1:
        lines.extend(one_line(line) for line in check.verbose_str)
    return "\n".join(lines) + "\n"
