"""The four Nagios states: the one table every part of the plugin uses.

The value is the plugin's exit code (Monitoring Plugins guidelines); the
name is what the status line, the metrics' HELP text and
``--unreachable-state`` spell.
"""

from __future__ import annotations

from enum import IntEnum


class State(IntEnum):
    """A check's or a certificate's state; worse states compare greater."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3

    @classmethod
    def named(cls, name: str) -> State:
        """The state called ``name`` in any case (``critical``, ``CRITICAL``)."""
        return cls[name.upper()]


# Lower-case names in exit-code order, as --unreachable-state accepts them.
NAMES = tuple(state.name.lower() for state in State)
