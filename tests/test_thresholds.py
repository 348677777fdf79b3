"""The validity/rotation model: boundaries in tables, no clock involved."""

import math

import pytest

from check_cert_validity.states import State
from check_cert_validity.thresholds import Policy, ThresholdError, TimeRange, leaf_verdict

OK, WARNING, CRITICAL = State.OK, State.WARNING, State.CRITICAL

D, H, M = 86400.0, 3600.0, 60.0


def state_for(left: float, lifetime: float, policy: Policy) -> tuple[int, tuple[str, ...]]:
    bounds = policy.bounds(lifetime)
    verdict = leaf_verdict(left, lifetime - left, lifetime, bounds)
    return verdict.state, verdict.reasons


# (time left, lifetime, validity, rotation, expected state)
CASES = [
    # DESIGN.md: V=90d, R=60d: OK 30..90, WARNING below 30, CRITICAL below 15
    (90 * D, 90 * D, 90 * D, 60 * D, OK),
    (30 * D, 90 * D, 90 * D, 60 * D, OK),  # exactly at V-R
    (30 * D + M, 90 * D, 90 * D, 60 * D, OK),
    (30 * D - M, 90 * D, 90 * D, 60 * D, WARNING),
    (15 * D, 90 * D, 90 * D, 60 * D, WARNING),  # exactly at C
    (15 * D - M, 90 * D, 90 * D, 60 * D, CRITICAL),
    (M, 90 * D, 90 * D, 60 * D, CRITICAL),
    (0, 90 * D, 90 * D, 60 * D, CRITICAL),  # expired at this instant
    (-D, 90 * D, 90 * D, 60 * D, CRITICAL),
    # V=7d, R=2d: WARNING below 5d, CRITICAL below 2.5d
    (5 * D, 7 * D, 7 * D, 2 * D, OK),
    (5 * D - M, 7 * D, 7 * D, 2 * D, WARNING),
    (2.5 * D, 7 * D, 7 * D, 2 * D, WARNING),
    (2.5 * D - M, 7 * D, 7 * D, 2 * D, CRITICAL),
    # 24-hour certificates, V=24h R=16h: WARNING below 8h, CRITICAL below 4h
    (8 * H, 24 * H, 24 * H, 16 * H, OK),
    (8 * H - M, 24 * H, 24 * H, 16 * H, WARNING),
    (4 * H, 24 * H, 24 * H, 16 * H, WARNING),
    (4 * H - M, 24 * H, 24 * H, 16 * H, CRITICAL),
    # defaults: V = lifetime, R = 2/3 V -> WARNING below L/3, CRITICAL below L/6
    (30 * D, 90 * D, None, None, OK),
    (30 * D - M, 90 * D, None, None, WARNING),
    (15 * D - M, 90 * D, None, None, CRITICAL),
    # V given, R default (2/3 V)
    (10 * D, 30 * D, 30 * D, None, OK),
    (10 * D - M, 30 * D, 30 * D, None, WARNING),
    # a hand-installed 1-year certificate where V=30d: not from the rotation
    (300 * D, 365 * D, 30 * D, 10 * D, WARNING),
    # lifetime within the backdating slack (step-ca backdates 1 minute)
    (24 * H, 24 * H + M, 24 * H, 16 * H, OK),
]


@pytest.mark.parametrize(("left", "lifetime", "validity", "rotation", "expected"), CASES)
def test_state_table(
    left: float, lifetime: float, validity: float, rotation: float, expected: int
) -> None:
    state, _ = state_for(left, lifetime, Policy(validity, rotation))
    assert state == expected


def test_overdue_amount_is_reported() -> None:
    # the issue's example: V=30d R=10d, 14.2d left -> overdue by 5.8d
    state, reasons = state_for(14.2 * D, 30 * D, Policy(30 * D, 10 * D))
    assert state == WARNING
    assert reasons == ("rotation overdue by 5.8d",)


def test_critical_names_both_overdue_and_critical_point() -> None:
    state, reasons = state_for(3 * D, 30 * D, Policy(30 * D, 10 * D))
    assert state == CRITICAL
    assert reasons == ("rotation overdue by 17.0d", "critical below 10.0d")


def test_not_yet_valid_is_critical() -> None:
    bounds = Policy().bounds(30 * D)
    verdict = leaf_verdict(31 * D, -D, 30 * D, bounds)
    assert verdict.state == CRITICAL
    assert verdict.reasons == ("not valid for another 24.0h",)


def test_expired_reason() -> None:
    state, reasons = state_for(-3 * D, 30 * D, Policy())
    assert (state, reasons) == (CRITICAL, ("expired 3.0d ago",))


def test_age_rule_when_lifetime_differs_from_validity() -> None:
    # V=30d R=10d but the certificate has a 60d lifetime and is 11 days old:
    # 49d left is inside nothing the rotation would issue, and it is overdue.
    bounds = Policy(30 * D, 10 * D).bounds(60 * D)
    verdict = leaf_verdict(49 * D, 11 * D, 60 * D, bounds)
    assert verdict.state == WARNING
    assert verdict.reasons[0] == "rotation overdue by 24.0h (11.0d old, R 10.0d)"


@pytest.mark.parametrize(
    ("validity", "rotation"), [(30 * D, 30 * D), (30 * D, 31 * D), (1 * D, 2 * D)]
)
def test_rotation_not_shorter_than_validity_is_a_usage_error(
    validity: float, rotation: float
) -> None:
    with pytest.raises(ThresholdError, match="must be shorter than"):
        Policy(validity, rotation)


def test_rotation_longer_than_the_certificate_lifetime() -> None:
    with pytest.raises(ThresholdError, match="give --validity"):
        Policy(rotation=60 * D).bounds(30 * D)


@pytest.mark.parametrize(
    ("text", "start", "end", "inside", "perf"),
    [
        ("10", 0, 10 * D, False, "864000"),
        ("10:", 10 * D, math.inf, False, "864000:"),
        ("8h:", 8 * H, math.inf, False, "28800:"),
        ("~:5d", -math.inf, 5 * D, False, "~:432000"),
        ("1:2", D, 2 * D, False, "86400:172800"),
        ("@1h:2h", H, 2 * H, True, "@3600:7200"),
    ],
)
def test_range_parse_and_perfdata(
    text: str, start: float, end: float, inside: bool, perf: str
) -> None:
    parsed = TimeRange.parse(text)
    assert (parsed.start, parsed.end, parsed.inside) == (start, end, inside)
    assert str(parsed) == perf


@pytest.mark.parametrize(
    ("text", "value", "alerts"),
    [
        ("10:", 10 * D, False),
        ("10:", 10 * D - 1, True),
        ("10", 11 * D, True),
        ("10", -1, True),
        ("@1:2", 1.5 * D, True),
        ("@1:2", 3 * D, False),
        ("~:5", -100 * D, False),
    ],
)
def test_range_alerts(text: str, value: float, alerts: bool) -> None:
    assert TimeRange.parse(text).alerts(value) is alerts


@pytest.mark.parametrize("text", ["", "@", "5:1", "x:", "1d:2q"])
def test_range_rejects(text: str) -> None:
    with pytest.raises(ThresholdError, match="invalid range"):
        TimeRange.parse(text)


def test_warning_range_replaces_computed_bound_only() -> None:
    policy = Policy(validity=24 * H, warning=TimeRange.parse("2h:"))
    # 5h left: computed WARNING (8h) replaced by 2h, computed CRITICAL 4h still applies
    assert state_for(5 * H, 24 * H, policy)[0] == OK
    assert state_for(3 * H, 24 * H, policy)[0] == CRITICAL
    # an R given as well keeps its age rule: 19h old is older than R 16h
    policy = Policy(validity=24 * H, rotation=16 * H, warning=TimeRange.parse("2h:"))
    assert state_for(5 * H, 24 * H, policy) == (
        WARNING,
        ("rotation overdue by 3.0h (19.0h old, R 16.0h)",),
    )
    assert state_for(9 * H, 24 * H, policy) == (OK, ())
    policy = Policy(validity=24 * H, rotation=16 * H, critical=TimeRange.parse("1h:"))
    assert state_for(3 * H, 24 * H, policy)[0] == WARNING
    assert state_for(59 * M, 24 * H, policy)[0] == CRITICAL


def test_perfdata_ranges_from_v_and_r() -> None:
    bounds = Policy(90 * D, 60 * D).bounds(90 * D)
    assert str(bounds.warning_range()) == "2592000:7776000"
    assert str(bounds.critical_range()) == "1296000:"
    bounds = Policy().bounds(90 * D)
    assert str(bounds.warning_range()) == "2592000:"


def test_explain_lines_for_the_design_example() -> None:
    lines = Policy(7 * D, 2 * D).bounds(7 * D).explain()
    assert lines[0] == "validity V = 7.0d, rotation R = 2.0d"
    assert (
        lines[1] == "expected time left: 5.0d to 7.0d (a healthy certificate is at most 2.0d old)"
    )
    assert "CRITICAL below 2.5d left: half the reaction window is gone" in lines


# The age rule (issue 4): with R known, a leaf older than R is overdue even when its
# lifetime L differs from V. (age, lifetime, policy, expected state, first reason)
AGE_CASES = [
    # L = V: the age rule and "less than V-R left" are the same rule, named plainly
    (10.5 * D, 30 * D, Policy(30 * D, 10 * D), WARNING, "rotation overdue by 12.0h"),
    (9.5 * D, 30 * D, Policy(30 * D, 10 * D), OK, None),
    # L within the backdating slack above V: only the age rule sees it, and says so
    (10.2 * D, 30.25 * D, Policy(30 * D, 10 * D), WARNING,
     "rotation overdue by 4.8h (10.2d old, R 10.0d)"),
    (9.8 * D, 30.25 * D, Policy(30 * D, 10 * D), OK, None),  # negative control
    # L < V: less than V-R left comes first; the reason is the time-left one
    (6 * D, 20 * D, Policy(30 * D, 10 * D), WARNING, "rotation overdue by 6.0d"),
    # -w replaces the computed WARNING rules; the age rule stays when R was given
    (10.2 * D, 30.25 * D, Policy(30 * D, 10 * D, warning=TimeRange.parse("5:")), WARNING,
     "rotation overdue by 4.8h (10.2d old, R 10.0d)"),
    (9.8 * D, 30.25 * D, Policy(30 * D, 10 * D, warning=TimeRange.parse("5:")), OK, None),
    # ... and goes with it when R was not given (the default R is not the operator's)
    (10.2 * D, 30.25 * D, Policy(30 * D, warning=TimeRange.parse("5:")), OK, None),
    (20.2 * D, 30.25 * D, Policy(30 * D, warning=TimeRange.parse("5:")), OK, None),
]  # fmt: skip


@pytest.mark.parametrize(("age", "lifetime", "policy", "state", "reason"), AGE_CASES)
def test_age_rule_table(
    age: float, lifetime: float, policy: Policy, state: int, reason: "str | None"
) -> None:
    verdict = leaf_verdict(lifetime - age, age, lifetime, policy.bounds(lifetime))
    assert verdict.state == state
    assert (verdict.reasons[0] if verdict.reasons else None) == reason


def test_age_rule_end_to_end(tmp_path: str) -> None:
    from datetime import timedelta

    from check_cert_validity.certfactory import issue

    from conftest import NOW, NOW_ARG, run_plugin

    start = NOW - timedelta(days=10.2)
    cert = issue(
        common_name="age.internal", not_before=start, not_after=start + timedelta(days=30.25)
    )
    path = f"{tmp_path}/age.pem"
    with open(path, "wb") as handle:
        handle.write(cert.cert_pem())
    result = run_plugin("--file", path, "--now", NOW_ARG, "--validity", "30d", "--rotation", "10d")
    assert (result.code, result.first_line) == (
        1,
        f"CERT_VALIDITY WARNING - {path} certificate 'age.internal' has 20.1d left, rotation "
        "overdue by 4.8h (10.2d old, R 10.0d) (expires 2026-12-20 13:12 UTC) "
        "| time_left=1732320s;1728000:2592000;864000:;;2613600",
    )
