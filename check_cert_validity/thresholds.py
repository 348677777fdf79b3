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
CRITICAL bounds respectively. ``-w`` replaces the age rule too, unless
``--rotation`` was given as well: then the operator told us R, and a leaf
older than R is still a missed rotation.

Certificates above the leaf (``--chain``) are CA certificates that live for
years by design: they are judged by the lower bounds only (expired, not yet
valid, below CRITICAL, below WARNING), never by the upper bound or the age
rule, which describe the leaf's rotation.
"""

# Annotations are evaluated here (no ``from __future__ import annotations``):
# typing.NamedTuple compiles every annotation given as a string when the class
# is made, and every check pays for that at start-up.

import math
from typing import Any, NamedTuple

from check_cert_validity.durations import DurationError, format_duration, parse_duration
from check_cert_validity.states import State

# CAs backdate notBefore a little against clock skew (step-ca: 1 minute,
# others up to an hour). A lifetime this much above V still counts as V.
BACKDATE_SLACK = 0.01


class ThresholdError(ValueError):
    """The thresholds given cannot describe a rotation (a usage error)."""


class TimeRange(NamedTuple):
    """A Nagios range (``[@]start:end``) over seconds.

    Without ``@`` the range is where values are fine and anything outside it
    alerts; with ``@`` values inside it alert.
    """

    start: float = 0.0
    end: float = math.inf
    inside: bool = False

    @classmethod
    def parse(cls, text: str) -> "TimeRange":
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
                if low == "~":
                    start = -math.inf
                else:
                    start = parse_duration(low, allow_negative=True) if low else 0.0
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
        body = high if low == "0" and high else f"{low}:{high}"
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

    def lower_point(self) -> float | None:
        """N for a range that means "alert below N" (``N:``), else None."""
        if self.inside or self.end != math.inf or not math.isfinite(self.start):
            return None
        return self.start


def _span(start: float, end: float) -> str:
    low = "-inf" if start == -math.inf else format_duration(start)
    high = "inf" if end == math.inf else format_duration(end)
    return f"{low}..{high}"


class _PolicyFields(NamedTuple):
    validity: float | None = None
    rotation: float | None = None
    warning: TimeRange | None = None
    critical: TimeRange | None = None
    whole_chain: bool = False
    unreachable: State = State.CRITICAL
    crl: Any = None  # Policy | None: the class is not defined yet


class Policy(_PolicyFields):
    """What the operator told us, checked on creation (raises ThresholdError).

    ``validity``, ``rotation``, ``warning`` and ``critical`` are None when
    not given. ``whole_chain`` (``--chain``) judges every certificate, not
    only the leaf; ``unreachable`` is the state of an endpoint or file that
    gives no certificate. ``crl`` judges CRLs beside certificates (None: by
    their own lifetime): a certificate's V and R say nothing about a CRL's.
    """

    __slots__ = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> "Policy":
        self = super().__new__(cls, *args, **kwargs)
        for name, value in (("validity", self.validity), ("rotation", self.rotation)):
            if value is not None and value <= 0:
                raise ThresholdError(f"--{name} must be longer than zero")
        if self.validity is not None and self.rotation is not None:
            if self.rotation >= self.validity:
                raise ThresholdError(
                    f"--rotation {format_duration(self.rotation)} must be shorter than "
                    f"--validity {format_duration(self.validity)}"
                )
        return self

    def bounds(self, lifetime: float) -> "Bounds":
        """Fill in V (default: ``lifetime``) and R (default 2/3 V); raises ThresholdError."""
        validity = self.validity if self.validity is not None else lifetime
        if validity <= 0:
            raise ThresholdError("the certificate's lifetime is not positive; give --validity")
        rotation = self.rotation if self.rotation is not None else validity * 2 / 3
        if rotation >= validity:
            raise ThresholdError(
                f"--rotation {format_duration(rotation)} is not shorter than the "
                f"validity {format_duration(validity)} (the certificate's lifetime); "
                "give --validity"
            )
        return Bounds(validity, rotation, self)


class Bounds(NamedTuple):
    """The thresholds a policy yields for a leaf of a given lifetime.

    ``validity`` and ``rotation`` are V and R as used (given or defaulted);
    ``policy`` says which were given and holds ``-w``/``-c``.
    """

    validity: float
    rotation: float
    policy: Policy

    @property
    def warn_below(self) -> float:
        """V-R: the lower end of the expected time left."""
        return self.validity - self.rotation

    @property
    def crit_below(self) -> float:
        """(V-R)/2: half the reaction window."""
        return self.warn_below / 2

    @property
    def upper(self) -> float | None:
        """V when it was given (the "not issued by this rotation" bound), else None."""
        return self.policy.validity

    def warning_range(self) -> TimeRange:
        """The WARNING range over the leaf's time left, as written to perfdata."""
        if self.policy.warning is not None:
            return self.policy.warning
        return TimeRange(self.warn_below, self.upper if self.upper is not None else math.inf)

    def critical_range(self) -> TimeRange:
        """The CRITICAL range over time left, as written to perfdata."""
        if self.policy.critical is not None:
            return self.policy.critical
        return TimeRange(self.crit_below)

    def lower_ranges(self) -> tuple[TimeRange, TimeRange]:
        """WARNING and CRITICAL ranges for a certificate above the leaf: no upper bound."""
        warning = self.policy.warning or TimeRange(self.warn_below)
        return warning, self.critical_range()

    def critical_point(self) -> float | None:
        """The time left below which it is CRITICAL, when one number says it."""
        return self.critical_range().lower_point()

    def explain(self) -> list[str]:
        """Lines telling an operator what these V and R mean."""
        v, r = format_duration(self.validity), format_duration(self.rotation)
        window = format_duration(self.warn_below)
        warning, critical = self.policy.warning, self.policy.critical
        lines = [
            f"validity V = {v}, rotation R = {r}",
            f"expected time left: {window} to {v} (a healthy certificate is at most {r} old)",
        ]
        if warning is not None:
            lines.append(f"WARNING when time left is {warning.describe()} (from -w)")
            if self.policy.rotation is not None:
                lines.append(f"WARNING when older than {r}: rotation overdue (from --rotation)")
        else:
            lines.append(f"WARNING below {window} left: at least one rotation was missed")
            if self.upper is not None:
                lines.append(f"WARNING above {v} left or lifetime: not issued by this rotation")
        if critical is not None:
            lines.append(f"CRITICAL when time left is {critical.describe()} (from -c)")
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


class Verdict(NamedTuple):
    """The state for one certificate and the reasons, worst first."""

    state: State
    reasons: tuple[str, ...] = ()


def _outside_validity(time_left: float, age: float) -> Verdict | None:
    """CRITICAL for a certificate every client rejects: not yet valid, or expired."""
    if age < 0:
        return Verdict(State.CRITICAL, (f"not valid for another {format_duration(-age)}",))
    if time_left <= 0:
        return Verdict(State.CRITICAL, (f"expired {format_duration(-time_left)} ago",))
    return None


def leaf_verdict(time_left: float, age: float, lifetime: float, bounds: Bounds) -> Verdict:
    """Map the leaf's times onto OK/WARNING/CRITICAL with reasons."""
    outside = _outside_validity(time_left, age)
    if outside is not None:
        return outside
    policy = bounds.policy
    state, reasons = State.OK, []
    # Missed rotation: less than V-R left, or (the age rule, which says the
    # same when L = V) older than R even though its lifetime differs from V.
    by_left, by_age = bounds.warn_below - time_left, age - bounds.rotation
    overdue = max(by_left, by_age)
    age_text = f" ({format_duration(age)} old, R {format_duration(bounds.rotation)})"

    if policy.critical is not None:
        if policy.critical.alerts(time_left):
            state = State.CRITICAL
            reasons.append(f"critical when {policy.critical.describe()}")
    elif time_left < bounds.crit_below:
        state = State.CRITICAL
        reasons.append(f"critical below {format_duration(bounds.crit_below)}")

    if policy.warning is not None:
        if policy.warning.alerts(time_left):
            state = max(state, State.WARNING)
            reasons.append(f"warning when {policy.warning.describe()}")
        if policy.rotation is not None and by_age > 0:
            # -w replaced the computed bound, but the R the operator typed still holds.
            state = max(state, State.WARNING)
            reasons.insert(0, f"rotation overdue by {format_duration(by_age)}{age_text}")
        return Verdict(state, tuple(reasons))

    if overdue > 0:
        state = max(state, State.WARNING)
        # Name the age rule when it alone decides (1 s absorbs float rounding when L = V).
        named = age_text if by_age > by_left + 1 else ""
        reasons.insert(0, f"rotation overdue by {format_duration(overdue)}{named}")
    if bounds.upper is not None:
        limit = bounds.upper * (1 + BACKDATE_SLACK)
        if lifetime > limit or time_left > limit:
            state = max(state, State.WARNING)
            reasons.append(
                f"lifetime {format_duration(lifetime)} exceeds validity "
                f"{format_duration(bounds.upper)}: not issued by this rotation"
            )
    return Verdict(state, tuple(reasons))


def issuer_verdict(time_left: float, age: float, bounds: Bounds) -> Verdict:
    """A CA certificate's state: the lower bounds of the leaf's model only."""
    outside = _outside_validity(time_left, age)
    if outside is not None:
        return outside
    policy = bounds.policy
    warning, critical = bounds.lower_ranges()
    if critical.alerts(time_left):
        if policy.critical is not None:
            return Verdict(State.CRITICAL, (f"critical when {critical.describe()}",))
        return Verdict(State.CRITICAL, (f"critical below {format_duration(bounds.crit_below)}",))
    if warning.alerts(time_left):
        if policy.warning is not None:
            return Verdict(State.WARNING, (f"warning when {warning.describe()}",))
        return Verdict(State.WARNING, (f"warning below {format_duration(bounds.warn_below)}",))
    return Verdict(State.OK)
