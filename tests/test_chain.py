"""``--chain``: the lower bounds on every presented certificate, the upper bound on the
leaf only; pure rules in a table, then real servers presenting real chains."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from check_cert_validity.certfactory import Issued, issue
from check_cert_validity.nagios import perf_label
from check_cert_validity.states import State
from check_cert_validity.thresholds import Policy, TimeRange, issuer_verdict

from conftest import DAY, NOW, NOW_ARG, run_plugin

OK, WARNING, CRITICAL = State.OK, State.WARNING, State.CRITICAL

D = 86400.0

# (time left, age, policy, leaf lifetime, expected state, reasons)
ISSUER_CASES = [
    (300 * D, 65 * D, Policy(30 * D, 10 * D), 30 * D, OK, ()),  # a CA living for years: no upper
    (20 * D, 345 * D, Policy(30 * D, 10 * D), 30 * D, OK, ()),  # exactly at V-R
    (19 * D, 345 * D, Policy(30 * D, 10 * D), 30 * D, WARNING, ("warning below 20.0d",)),
    (10 * D, 355 * D, Policy(30 * D, 10 * D), 30 * D, WARNING, ("warning below 20.0d",)),
    (9 * D, 356 * D, Policy(30 * D, 10 * D), 30 * D, CRITICAL, ("critical below 10.0d",)),
    (-D, 366 * D, Policy(30 * D, 10 * D), 30 * D, CRITICAL, ("expired 24.0h ago",)),
    (400 * D, -2 * D, Policy(30 * D, 10 * D), 30 * D, CRITICAL, ("not valid for another 2.0d",)),
    # defaults from the leaf's lifetime (90d: WARNING below 30d, CRITICAL below 15d)
    (29 * D, 700 * D, Policy(), 90 * D, WARNING, ("warning below 30.0d",)),
    # the age rule is the leaf's: an old CA with plenty left is fine
    (3000 * D, 600 * D, Policy(30 * D, 10 * D), 30 * D, OK, ()),
    # -w / -c replace the computed bounds here too
    (
        25 * D,
        700 * D,
        Policy(warning=TimeRange.parse("30:"), critical=TimeRange.parse("7:")),
        90 * D,
        WARNING,
        ("warning when below 30.0d",),
    ),
    (
        6 * D,
        700 * D,
        Policy(warning=TimeRange.parse("30:"), critical=TimeRange.parse("7:")),
        90 * D,
        CRITICAL,
        ("critical when below 7.0d",),
    ),
]


@pytest.mark.parametrize(("left", "age", "policy", "lifetime", "state", "reasons"), ISSUER_CASES)
def test_issuer_table(
    left: float, age: float, policy: Policy, lifetime: float, state: int, reasons: tuple
) -> None:
    verdict = issuer_verdict(left, age, policy.bounds(lifetime))
    assert (verdict.state, verdict.reasons) == (state, reasons)


def test_issuer_ranges_have_no_upper_bound() -> None:
    bounds = Policy(30 * D, 10 * D).bounds(30 * D)
    assert str(bounds.warning_range()) == "1728000:2592000"  # the leaf's
    assert [str(r) for r in bounds.lower_ranges()] == ["1728000:", "864000:"]


def test_perf_labels() -> None:
    assert [perf_label(i) for i in range(3)] == [
        "time_left",
        "time_left_chain1",
        "time_left_chain2",
    ]


# ---- real servers ------------------------------------------------------------------------


@pytest.fixture
def root() -> Issued:
    return issue(
        common_name="Internal Root",
        ca=True,
        not_before=NOW - 1000 * DAY,
        not_after=NOW + 2650 * DAY,
    )


def intermediate(root: Issued, left: float, name: str = "Internal Issuing CA 2") -> Issued:
    return issue(
        common_name=name,
        ca=True,
        issuer=root,
        not_before=NOW - 365 * DAY,
        not_after=NOW + left * DAY,
    )


def leaf(issuer: Issued, age: float, lifetime: float = 30, name: str = "svc.internal") -> Issued:
    return issue(
        common_name=name,
        issuer=issuer,
        not_before=NOW - age * DAY,
        not_after=NOW + (lifetime - age) * DAY,
    )


def check(port: int, *args: str) -> tuple[int, str, str]:
    result = run_plugin("-H", "127.0.0.1", "-p", str(port), "--now", NOW_ARG, *args)
    assert result.stderr == ""
    return result.code, result.first_line, result.stdout


VR = ("--validity", "30d", "--rotation", "10d")
LEAF_PERF = "time_left=2160000s;1728000:2592000;864000:;;2592000"
ROOT_PERF = "time_left_chain2=228960000s;1728000:;864000:;;315360000"


def test_intermediate_expiring_before_the_leaf(serve: Callable, root: Issued) -> None:
    inter = intermediate(root, left=15)
    server = serve([leaf(inter, age=5), inter, root])
    code, line, _ = check(server.port, *VR, "--chain")
    assert (code, line) == (
        1,
        f"CERT_VALIDITY WARNING - 127.0.0.1:{server.port} intermediate 'Internal Issuing CA 2' "
        "(chain[1]) expires in 15.0d, before the leaf, warning below 20.0d (2026-12-15 12:00 UTC) "
        f"| {LEAF_PERF} time_left_chain1=1296000s;1728000:;864000:;;32832000 {ROOT_PERF}",
    )
    # negative control: without --chain only the leaf is judged, and -v still lists the chain
    code, line, out = check(server.port, *VR, "-v")
    assert (code, line) == (
        0,
        f"CERT_VALIDITY OK - 127.0.0.1:{server.port} certificate 'svc.internal' has 25.0d left "
        f"(expires 2026-12-25 12:00 UTC) | {LEAF_PERF}",
    )
    assert "chain[1]: CN=Internal Issuing CA 2,O=check_cert_validity test (notAfter " in out
    assert "chain[2]: CN=Internal Root,O=check_cert_validity test (notAfter " in out


def test_intermediate_critical(serve: Callable, root: Issued) -> None:
    inter = intermediate(root, left=3.1)
    server = serve([leaf(inter, age=5), inter])
    code, line, _ = check(server.port, *VR, "--chain")
    assert code == 2
    assert line.startswith(
        f"CERT_VALIDITY CRITICAL - 127.0.0.1:{server.port} intermediate 'Internal Issuing CA 2' "
        "(chain[1]) expires in 3.1d, before the leaf, critical below 10.0d (2026-12-03 14:24 UTC) |"
    )


def test_healthy_chain_names_the_leaf(serve: Callable, root: Issued) -> None:
    inter = intermediate(root, left=300)
    server = serve([leaf(inter, age=5), inter, root])
    code, line, _ = check(server.port, *VR, "--chain")
    assert (code, line) == (
        0,
        f"CERT_VALIDITY OK - 127.0.0.1:{server.port} certificate 'svc.internal' has 25.0d left "
        f"(expires 2026-12-25 12:00 UTC) | {LEAF_PERF} "
        f"time_left_chain1=25920000s;1728000:;864000:;;57456000 {ROOT_PERF}",
    )


def test_ok_but_an_intermediate_limits(serve: Callable, root: Issued) -> None:
    inter = intermediate(root, left=22)
    server = serve([leaf(inter, age=5), inter])
    code, line, _ = check(server.port, *VR, "--chain")
    assert code == 0
    assert line.startswith(
        f"CERT_VALIDITY OK - 127.0.0.1:{server.port} certificate 'svc.internal' has 25.0d left "
        f"(expires 2026-12-25 12:00 UTC); 127.0.0.1:{server.port} intermediate 'Internal Issuing "
        "CA 2' (chain[1]) expires in 22.0d, before the leaf (2026-12-22 12:00 UTC) |"
    )


def test_upper_bound_applies_to_the_leaf_only(serve: Callable, root: Issued) -> None:
    inter = intermediate(root, left=3000)  # a CA far longer-lived than V: fine
    server = serve([leaf(inter, age=5), inter, root])
    assert check(server.port, *VR, "--chain")[0] == 0
    # negative control: a leaf longer-lived than V is still caught
    server = serve([leaf(inter, age=5, lifetime=365), inter, root])
    code, line, _ = check(server.port, *VR, "--chain")
    assert code == 1
    assert "lifetime 365.0d exceeds validity 30.0d: not issued by this rotation" in line


def test_expired_root_in_the_presented_chain(serve: Callable) -> None:
    old_root = issue(
        common_name="Old Root", ca=True, not_before=NOW - 3650 * DAY, not_after=NOW - DAY
    )
    inter = intermediate(old_root, left=300)
    server = serve([leaf(inter, age=5), inter, old_root])
    code, line, _ = check(server.port, *VR, "--chain")
    assert code == 2
    assert line.startswith(
        f"CERT_VALIDITY CRITICAL - 127.0.0.1:{server.port} root 'Old Root' (chain[2]) expired "
        "24.0h ago (2026-11-29 12:00 UTC) |"
    )


def test_judges_what_the_server_presents_not_only_the_path(serve: Callable, root: Issued) -> None:
    # An expired certificate that is not on the leaf's path (a stale cross-sign left in
    # the bundle). OpenSSL's verify callback never sees it; clients that build other
    # paths may pick it. --chain judges every certificate the server sends.
    stale = issue(
        common_name="Stale Cross-Sign", ca=True, not_before=NOW - 900 * DAY, not_after=NOW - 2 * DAY
    )
    inter = intermediate(root, left=300)
    server = serve([leaf(inter, age=5), inter, stale])
    code, line, out = check(server.port, *VR, "--chain", "-v")
    assert code == 2
    assert line.startswith(
        f"CERT_VALIDITY CRITICAL - 127.0.0.1:{server.port} root 'Stale Cross-Sign' (chain[2]) "
        "expired 2.0d ago (2026-11-28 12:00 UTC) |"
    )
    assert "chain[2]: CN=Stale Cross-Sign" in out


def test_worst_first_then_earliest_expiry(serve: Callable, root: Issued) -> None:
    inter = intermediate(root, left=12)
    server = serve([leaf(inter, age=15.8), inter])
    code, line, _ = check(server.port, *VR, "--chain")
    assert code == 1
    assert line.startswith(
        f"CERT_VALIDITY WARNING - 127.0.0.1:{server.port} intermediate 'Internal Issuing CA 2' "
        "(chain[1]) expires in 12.0d, before the leaf, warning below 20.0d (2026-12-12 12:00 UTC); "
        f"127.0.0.1:{server.port} certificate 'svc.internal' has 14.2d left, rotation overdue by "
        "5.8d (expires 2026-12-14 16:48 UTC) |"
    )


def test_fixed_ranges_in_chain_perfdata(serve: Callable, root: Issued) -> None:
    inter = intermediate(root, left=300)
    server = serve([leaf(inter, age=5), inter])
    code, line, _ = check(server.port, "-w", "20:", "-c", "10:", "--chain")
    assert code == 0
    assert line.endswith(
        "| time_left=2160000s;1728000:;864000:;;2592000 "
        "time_left_chain1=25920000s;1728000:;864000:;;57456000"
    )
