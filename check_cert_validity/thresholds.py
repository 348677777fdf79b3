"""The validity/rotation model: pure math over seconds, no clock, no IO.

Names (all in seconds): L is the certificate's lifetime, T the time it has
left, A its age. The operator describes the rotation system with a validity V
(the lifetime it issues; default L) and a rotation period R (how often a fresh
certificate is deployed; default 2/3 of V, the renewal point of cert-manager,
step-ca and certbot). A healthy certificate then has V-R <= T <= V left.

- WARNING below V-R: at least one rotation was missed.
- WARNING above V (only when V was given): not issued by that rotation system.
- CRITICAL below C = (V-R)/2: half the reaction window is gone.
- CRITICAL when expired or not yet valid.
- The age rule: WARNING when older than R (A > R), even when L differs from
  V. When L = V it says the same as T < V-R; otherwise the earlier of the two
  decides, and the overdue amount is max(V-R-T, A-R).

``-w``/``-c`` are Nagios ranges over T and replace the computed WARNING and
CRITICAL bounds respectively (``-w`` replaces the age rule too: fixed days
are all the operator asked for).
"""

from __future__ import annotations

import math

from check_cert_validity.durations import DurationError, format_duration, parse_duration
from check_cert_validity.record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (--explain loads none)
if TYPE_CHECKING:
    from typing import Optional

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
STATE_NAMES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")

# CAs backdate notBefore a little against clock skew (step-ca: 1 minute,
# others up to an hour). A lifetime this much above V still counts as V.
BACKDATE_SLACK = 0.01


class ThresholdError(ValueError):
    """The thresholds given cannot describe a rotation (a usage error)."""


class TimeRange(Record):
    """A Nagios range (``[@]start:end``) over seconds.

    Without ``@`` the range is where values are fine and anything outside it
    alerts; with ``@`` values inside it alert.
    """

    __slots__ = ("end", "inside", "start")
    start: float
    end: float
    inside: bool

    def __init__(self, start: float = 0.0, end: float = math.inf, inside: bool = False) -> None:
        self._set(start=start, end=end, inside=inside)

    @classmethod
    def parse(cls, text: str) -> TimeRange:
        """Parse Nagios range syntax whose endpoints are durations (bare = days)."""
        spec = text.strip()
        inside = spec.startswith("@")
        if inside:
            spec = spec[1:]
        if not spec:
            raise ThresholdError(f"invalid range {text!r}: empty")
        try:
            if ":" in spec:
                low, high = spec.split(":", 1)
                start = (
                    -math.inf
                    if low == "~"
                    else (parse_duration(low, allow_negative=True) if low else 0.0)
                )
                end = parse_duration(high, allow_negative=True) if high else math.inf
            else:
                start, end = 0.0, parse_duration(spec, allow_negative=True)
        except DurationError as exc:
            raise ThresholdError(f"invalid range {text!r}: {exc}") from None
        if start > end:
            raise ThresholdError(f"invalid range {text!r}: start is above end")
        return cls(start, end, inside)

    def alerts(self, value: float) -> bool:
        """True when ``value`` should raise this range's state."""
        within = self.start <= value <= self.end
        return within if self.inside else not within

    def __str__(self) -> str:
        """The range in perfdata notation, whole seconds."""
        low = "~" if self.start == -math.inf else str(round(self.start))
        high = "" if self.end == math.inf else str(round(self.end))
        if low == "0" and high:
            body = high
        else:
            body = f"{low}:{high}"
        return ("@" if self.inside else "") + body

    def describe(self) -> str:
        """The range for people: ``below 5.0d`` / ``outside 1.0d..3.0d``."""
        if self.inside:
            return f"within {_span(self.start, self.end)}"
        if self.end == math.inf:
            return f"below {format_duration(self.start)}"
        if self.start == -math.inf:
            return f"above {format_duration(self.end)}"
        return f"outside {_span(self.start, self.end)}"


def _span(start: float, end: float) -> str:
    low = "-inf" if start == -math.inf else format_duration(start)
    high = "inf" if end == math.inf else format_duration(end)
    return f"{low}..{high}"


class Policy(Record):
    """What the operator told us (each field None when not given), checked on creation."""

    __slots__ = ("critical", "rotation", "validity", "warning")
    validity: Optional[float]
    rotation: Optional[float]
    warning: Optional[TimeRange]
    critical: Optional[TimeRange]

    def __init__(
        self,
        validity: Optional[float] = None,
        rotation: Optional[float] = None,
        warning: Optional[TimeRange] = None,
        critical: Optional[TimeRange] = None,
    ) -> None:
        self._set(validity=validity, rotation=rotation, warning=warning, critical=critical)
        for name in ("validity", "rotation"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ThresholdError(f"--{name} must be longer than zero")
        if self.validity is not None and self.rotation is not None:
            if self.rotation >= self.validity:
                raise ThresholdError(
                    f"--rotation {format_duration(self.rotation)} must be shorter than "
                    f"--validity {format_duration(self.validity)}"
                )


class Bounds(Record):
    """The thresholds a policy yields for a certificate of a given lifetime."""

    __slots__ = (
        "crit_below",
        "critical",
        "rotation",
        "upper",
        "validity",
        "validity_given",
        "warn_below",
        "warning",
    )
    validity: float
    rotation: float
    warn_below: float
    crit_below: float
    upper: Optional[float]
    validity_given: bool
    warning: Optional[TimeRange]
    critical: Optional[TimeRange]

    def __init__(
        self,
        validity: float,
        rotation: float,
        warn_below: float,
        crit_below: float,
        upper: Optional[float],
        validity_given: bool,
        warning: Optional[TimeRange],
        critical: Optional[TimeRange],
    ) -> None:
        self._set(
            validity=validity,
            rotation=rotation,
            warn_below=warn_below,
            crit_below=crit_below,
            upper=upper,
            validity_given=validity_given,
            warning=warning,
            critical=critical,
        )

    @classmethod
    def derive(cls, policy: Policy, lifetime: float) -> Bounds:
        """Fill in V (default L) and R (default 2/3 V) and compute the bounds."""
        validity = policy.validity if policy.validity is not None else lifetime
        if validity <= 0:
            raise ThresholdError("the certificate's lifetime is not positive; give --validity")
        rotation = policy.rotation if policy.rotation is not None else validity * 2 / 3
        if rotation >= validity:
            raise ThresholdError(
                f"--rotation {format_duration(rotation)} is not shorter than the "
                f"validity {format_duration(validity)} (the certificate's lifetime); "
                "give --validity"
            )
        warn_below = validity - rotation
        return cls(
            validity=validity,
            rotation=rotation,
            warn_below=warn_below,
            crit_below=warn_below / 2,
            upper=policy.validity,
            validity_given=policy.validity is not None,
            warning=policy.warning,
            critical=policy.critical,
        )

    def warning_range(self) -> TimeRange:
        """The WARNING range over time left, as written to perfdata."""
        if self.warning is not None:
            return self.warning
        return TimeRange(self.warn_below, self.upper if self.upper is not None else math.inf)

    def critical_range(self) -> TimeRange:
        """The CRITICAL range over time left, as written to perfdata."""
        if self.critical is not None:
            return self.critical
        return TimeRange(self.crit_below)

    def explain(self) -> list[str]:
        """Lines telling an operator what these V and R mean."""
        v, r = format_duration(self.validity), format_duration(self.rotation)
        window = format_duration(self.warn_below)
        lines = [
            f"validity V = {v}, rotation R = {r}",
            f"expected time left: {window} to {v} (a healthy certificate is at most {r} old)",
        ]
        if self.warning is not None:
            lines.append(f"WARNING when time left is {self.warning.describe()} (from -w)")
        else:
            lines.append(f"WARNING below {window} left: at least one rotation was missed")
            if self.upper is not None:
                lines.append(f"WARNING above {v} left or lifetime: not issued by this rotation")
        if self.critical is not None:
            lines.append(f"CRITICAL when time left is {self.critical.describe()} (from -c)")
        else:
            lines.append(
                f"CRITICAL below {format_duration(self.crit_below)} left: "
                "half the reaction window is gone"
            )
        lines.append(
            f"reaction window: {window} from the first WARNING to expiry; choose V and R "
            "so that this outlasts your longest absence (holidays), then a WARNING "
            "can be a ticket, not a page"
        )
        return lines


class Judgement(Record):
    """The state for one certificate and the reasons, worst first."""

    __slots__ = ("reasons", "state")
    state: int
    reasons: tuple[str, ...]

    def __init__(self, state: int, reasons: tuple[str, ...]) -> None:
        self._set(state=state, reasons=reasons)


def judge(time_left: float, age: float, lifetime: float, bounds: Bounds) -> Judgement:
    """Map a certificate's times onto OK/WARNING/CRITICAL with reasons."""
    if age < 0:
        return Judgement(CRITICAL, (f"not valid for another {format_duration(-age)}",))
    if time_left <= 0:
        return Judgement(CRITICAL, (f"expired {format_duration(-time_left)} ago",))

    state, reasons = OK, []
    # Missed rotation: less than V-R left, or (the age rule, which says the
    # same when L = V) older than R even though its lifetime differs from V.
    by_left, by_age = bounds.warn_below - time_left, age - bounds.rotation
    overdue = max(by_left, by_age)
    # Name the age rule when it alone decides (1 s absorbs float rounding when L = V).
    overdue_text = f"rotation overdue by {format_duration(overdue)}"
    if by_age > by_left + 1:
        overdue_text += f" ({format_duration(age)} old, R {format_duration(bounds.rotation)})"

    if bounds.critical is not None:
        if bounds.critical.alerts(time_left):
            state = CRITICAL
            reasons.append(f"critical when {bounds.critical.describe()}")
    elif time_left < bounds.crit_below:
        state = CRITICAL
        reasons.append(f"critical below {format_duration(bounds.crit_below)}")

    if bounds.warning is not None:
        if bounds.warning.alerts(time_left):
            state = max(state, WARNING)
            reasons.append(f"warning when {bounds.warning.describe()}")
    else:
        if overdue > 0:
            state = max(state, WARNING)
            reasons.insert(0, overdue_text)
        if bounds.upper is not None:
            limit = bounds.upper * (1 + BACKDATE_SLACK)
            if lifetime > limit or time_left > limit:
                state = max(state, WARNING)
                reasons.append(
                    f"lifetime {format_duration(lifetime)} exceeds validity "
                    f"{format_duration(bounds.upper)}: not issued by this rotation"
                )
    return Judgement(state, tuple(reasons))
