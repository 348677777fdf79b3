"""The judgement on its own: acquired facts, a policy and ``now`` in, one value out.

No server and no clock: certificates are made with exact dates and judged as
of the suite's fixed ``NOW``. The behaviour tests check the same rules
through the installed plugin; these pin the value every face renders.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from check_cert_validity.certfactory import Issued, issue
from check_cert_validity.certinfo import CertFacts
from check_cert_validity.judgement import Acquired, Judgement, Unreadable, judge
from check_cert_validity.states import State
from check_cert_validity.thresholds import Policy, TimeRange

from conftest import NOW

D = 86400.0
LABEL = "svc:443"
VR = Policy(30 * D, 10 * D)


def make(age: float, lifetime: float = 30, name: str = "svc.internal", **kwargs: object) -> Issued:
    start = NOW - timedelta(days=age)
    return issue(
        common_name=name,
        not_before=start,
        not_after=start + timedelta(days=lifetime),
        **kwargs,  # type: ignore[arg-type]
    )


def facts(item: Issued) -> CertFacts:
    return CertFacts.from_certificate(item.cert)


def leaf_only(age: float, lifetime: float, policy: Policy) -> Judgement:
    return judge(Acquired(LABEL, (facts(make(age, lifetime)),)), policy, NOW)


# (age, lifetime, policy, state, the leaf's text after "svc:443 certificate 'svc.internal' ")
LEAF_CASES = [
    (5, 30, VR, State.OK, "has 25.0d left (expires 2026-12-25 12:00 UTC)"),
    (10, 30, VR, State.OK, "has 20.0d left (expires 2026-12-20 12:00 UTC)"),  # exactly V-R
    (12, 30, VR, State.WARNING,
     "has 18.0d left, rotation overdue by 2.0d (expires 2026-12-18 12:00 UTC)"),
    (21, 30, VR, State.CRITICAL, "has 9.0d left, rotation overdue by 11.0d, critical below "
     "10.0d (expires 2026-12-09 12:00 UTC)"),
    (31, 30, VR, State.CRITICAL, "expired 24.0h ago (2026-11-29 12:00 UTC)"),
    (-1, 30, VR, State.CRITICAL,
     "is not valid for another 24.0h (notBefore 2026-12-01 12:00 UTC)"),
    # a hand-installed year-long certificate where the rotation issues 30 days
    (5, 365, VR, State.WARNING, "has 360.0d left, lifetime 365.0d exceeds validity 30.0d: not "
     "issued by this rotation (expires 2027-11-25 12:00 UTC)"),
    # defaults: V = the lifetime, R = 2/3 of it
    (20, 30, Policy(), State.OK, "has 10.0d left (expires 2026-12-10 12:00 UTC)"),
    (21, 30, Policy(), State.WARNING,
     "has 9.0d left, rotation overdue by 24.0h (expires 2026-12-09 12:00 UTC)"),
    # -w alone replaces the computed rules; with --rotation the age rule stays
    (12, 30, Policy(30 * D, warning=TimeRange.parse("5:")), State.OK,
     "has 18.0d left (expires 2026-12-18 12:00 UTC)"),
    (12, 30, Policy(30 * D, 10 * D, warning=TimeRange.parse("5:")), State.WARNING,
     "has 18.0d left, rotation overdue by 2.0d (12.0d old, R 10.0d) (expires 2026-12-18 "
     "12:00 UTC)"),
    # no bounds: R longer than the lifetime and no V to judge against
    (5, 30, Policy(rotation=60 * D), State.UNKNOWN,
     ": --rotation 60.0d is not shorter than the validity 30.0d (the certificate's lifetime); "
     "give --validity"),
]  # fmt: skip


@pytest.mark.parametrize(("age", "lifetime", "policy", "state", "text"), LEAF_CASES)
def test_leaf_table(age: float, lifetime: float, policy: Policy, state: State, text: str) -> None:
    judgement = leaf_only(age, lifetime, policy)
    (leaf,) = judgement.certificates
    assert (judgement.state, leaf.position, leaf.state) == (state, 0, state)
    separator = "" if text.startswith(":") else " "
    assert leaf.text == f"{LABEL} certificate 'svc.internal'{separator}{text}"
    assert judgement.problems == ()
    assert judgement.probe_success


def test_bounds_are_derived_once_from_the_leaf_and_given_to_every_certificate() -> None:
    leaf, ca = make(1, 7), make(100, 3650, name="CA", ca=True)
    policy = Policy(7 * D, 2 * D, whole_chain=True)
    judgement = judge(Acquired(LABEL, (facts(leaf), facts(ca))), policy, NOW)
    assert judgement.bounds == policy.bounds(7 * D)
    first, second = judgement.certificates
    assert (str(first.warning), str(first.critical)) == ("432000:604800", "216000:")
    # above the leaf only the lower bounds hold: no upper end to the WARNING range
    assert (str(second.warning), str(second.critical)) == ("432000:", "216000:")


# (the CA's age and lifetime in days, its state, its text after "svc:443 ")
CHAIN_CASES = [
    (100, 3650, State.OK, "root 'CA' (chain[1]) expires in 3550.0d (2036-08-19 12:00 UTC)"),
    (300, 304, State.CRITICAL,
     "root 'CA' (chain[1]) expires in 4.0d, before the leaf, critical below 10.0d "
     "(2026-12-04 12:00 UTC)"),
    (300, 312, State.WARNING,
     "root 'CA' (chain[1]) expires in 12.0d, before the leaf, warning below 20.0d "
     "(2026-12-12 12:00 UTC)"),
    (400, 399, State.CRITICAL, "root 'CA' (chain[1]) expired 24.0h ago (2026-11-29 12:00 UTC)"),
]  # fmt: skip


@pytest.mark.parametrize(("age", "lifetime", "state", "text"), CHAIN_CASES)
def test_chain_table(age: float, lifetime: float, state: State, text: str) -> None:
    certificates = (facts(make(5, 30)), facts(make(age, lifetime, name="CA", ca=True)))
    judgement = judge(Acquired(LABEL, certificates), Policy(30 * D, 10 * D, whole_chain=True), NOW)
    leaf, ca = judgement.certificates
    assert (leaf.state, ca.position, ca.state, judgement.state) == (State.OK, 1, state, state)
    assert ca.text == f"{LABEL} {text}"
    # negative control: without --chain the same certificates give the leaf's verdict alone
    alone = judge(Acquired(LABEL, certificates), VR, NOW)
    assert ([c.position for c in alone.certificates], alone.state) == ([0], State.OK)


# (what could not be read, policy, the problem's kind, its state)
UNREADABLE_CASES = [
    (Acquired(LABEL, unreadable=Unreadable("connection refused")), VR, "endpoint",
     State.CRITICAL),
    (Acquired(LABEL, unreadable=Unreadable("connection refused")),
     Policy(unreachable=State.WARNING), "endpoint", State.WARNING),
    # an endpoint cannot be "ours to look at": cannot_look means a file
    (Acquired("/etc/c.pem", unreadable=Unreadable("no such file"), is_file=True), VR, "file",
     State.CRITICAL),
    (Acquired("/etc/c.pem", unreadable=Unreadable("cannot read it: permission denied", True),
              is_file=True), Policy(unreachable=State.OK), "file", State.UNKNOWN),
]  # fmt: skip


@pytest.mark.parametrize(("acquired", "policy", "kind", "state"), UNREADABLE_CASES)
def test_nothing_read_is_a_problem(
    acquired: Acquired, policy: Policy, kind: str, state: State
) -> None:
    judgement = judge(acquired, policy, NOW)
    assert (judgement.certificates, judgement.bounds, judgement.probe_success) == ((), None, False)
    assert [(p.kind, p.state) for p in judgement.problems] == [(kind, state)]
    assert judgement.problems[0].text == f"{acquired.label}: {acquired.unreadable.reason}"  # type: ignore[union-attr]
    assert judgement.state == state


def test_uptake_problems() -> None:
    served, disk = facts(make(12, 30, serial=0xA1)), facts(make(1, 30, serial=0xB2))

    def with_disk(expected: CertFacts | Unreadable, policy: Policy = VR) -> Judgement:
        acquired = Acquired(LABEL, (served,), expected=expected, expected_label="/etc/svc.pem")
        return judge(acquired, policy, NOW)

    assert with_disk(served).problems == ()  # the same bytes: nothing to say
    mismatch = with_disk(disk)
    assert [(p.kind, p.state) for p in mismatch.problems] == [("uptake", State.WARNING)]
    assert mismatch.problems[0].text.endswith(
        "written 24.0h ago; the served one has 18.0d left (expires 2026-12-18 12:00 UTC)"
    )
    # the served leaf keeps its own verdict beside the uptake problem
    assert mismatch.certificates[0].state == State.WARNING
    gone = with_disk(Unreadable("no such file"), Policy(30 * D, 10 * D, unreachable=State.WARNING))
    assert [(p.kind, p.state, p.text) for p in gone.problems] == [
        ("expect_file", State.WARNING, "/etc/svc.pem: no such file")
    ]
    locked = with_disk(Unreadable("cannot read it: permission denied", cannot_look=True))
    assert [(p.kind, p.state) for p in locked.problems] == [("expect_file", State.UNKNOWN)]


def test_the_judgement_is_immutable() -> None:
    judgement = leaf_only(5, 30, VR)
    with pytest.raises(AttributeError):
        judgement.state = State.OK  # type: ignore[misc]
    with pytest.raises(AttributeError):
        judgement.certificates[0].text = ""  # type: ignore[misc]
