"""Failed uptake (``--expect-file``): a real server keeps serving what it loaded while
the file on disk is replaced without a reload, in both directions."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from check_cert_validity.certfactory import Issued
from check_cert_validity.certinfo import CertFacts, not_after, not_before
from check_cert_validity.judgement import Acquired, Judgement, judge
from check_cert_validity.states import State
from check_cert_validity.thresholds import Policy

from conftest import NOW, NOW_ARG, run_plugin

D = 86400.0


@pytest.fixture
def make(leaf_factory: Callable[..., Issued]) -> Callable[..., Issued]:
    """Leaves for svc.internal by age (days) and serial; 30-day lifetime."""

    def build(age: float, serial: int, lifetime: float = 30) -> Issued:
        return leaf_factory(age=age, lifetime=lifetime, common_name="svc.internal", serial=serial)

    return build


def facts(item: Issued) -> CertFacts:
    return CertFacts.from_certificate(item.cert)


def uptake(served: Issued, disk: Issued) -> Judgement:
    """The judgement of a served leaf against the file it should be (V 30d, R 10d)."""
    acquired = Acquired(
        "svc:443", (facts(served),), expected=facts(disk), expected_label="/etc/svc.pem"
    )
    return judge(acquired, Policy(30 * D, 10 * D), NOW)


def left_of(item: Issued) -> str:
    """The urgency every uptake text ends with: the served certificate's own time left."""
    expiry = not_after(item.cert).strftime("%Y-%m-%d %H:%M UTC")
    days = (not_after(item.cert) - NOW).total_seconds() / D
    return f"; the served one has {days:.1f}d left (expires {expiry})"


# ---- the judgement: pure -----------------------------------------------------------------


def test_same_bytes_is_no_problem(make: Callable[..., Issued]) -> None:
    served = make(5, 0xA1)
    judgement = uptake(served, served)
    assert (judgement.state, judgement.problems) == (State.OK, ())


def test_same_subject_and_serial_but_other_bytes_differ(make: Callable[..., Issued]) -> None:
    # a re-issue with the same serial and dates (another key): subject equality is not enough
    one, two = make(5, 0xA1), make(5, 0xA1)
    (problem,) = uptake(one, two).problems
    assert (problem.kind, problem.state) == ("uptake", State.WARNING)
    assert problem.text.endswith(
        ": the service has not reloaded it; both have the same notBefore" + left_of(one)
    )


@pytest.mark.parametrize(
    ("disk_age", "tail"),
    [
        (2, "the one on disk is newer, written 2.0d ago"),
        (10, "the one on disk is newer, written 10.0d ago"),
        (12, "the one on disk is newer, written 12.0d ago, longer than R 10.0d: "
             "rotation overdue by 2.0d"),
        (-0.5, "the one on disk is newer and not valid for another 12.0h"),
    ],
)  # fmt: skip
def test_disk_newer(disk_age: float, tail: str, make: Callable[..., Issued]) -> None:
    served, disk = make(25, 0xA1), make(disk_age, 0xB2)
    judgement = uptake(served, disk)
    assert judgement.state == State.CRITICAL  # the served leaf's own state: 5 days left
    assert [(p.state, p.text) for p in judgement.problems] == [
        (
            State.WARNING,
            "svc:443 served certificate (serial A1, notBefore 2026-11-05 12:00 UTC) is not the "
            f"one at /etc/svc.pem (serial B2, notBefore {utc(disk)}): the service has not "
            f"reloaded it; {tail}; the served one has 5.0d left (expires 2026-12-05 12:00 UTC)",
        )
    ]


def utc(item: Issued) -> str:
    return not_before(item.cert).strftime("%Y-%m-%d %H:%M UTC")


def test_served_newer(make: Callable[..., Issued]) -> None:
    served, disk = make(2, 0xA1), make(20, 0xB2)
    (problem,) = uptake(served, disk).problems
    assert problem.state == State.WARNING
    assert problem.text.endswith(
        "(serial B2, notBefore 2026-11-10 12:00 UTC): the served one is newer; /etc/svc.pem "
        "holds an older one (a restart would serve it)" + left_of(served)
    )


def test_expired_served_certificate_says_so(make: Callable[..., Issued]) -> None:
    served, disk = make(31, 0xA1, lifetime=30), make(1, 0xB2)
    (problem,) = uptake(served, disk).problems
    assert problem.text.endswith("; the served one expired 24.0h ago (2026-11-29 12:00 UTC)")


# ---- a real server, a real file replaced without a reload --------------------------------


def check(port: int, path: str, *args: str) -> tuple[int, str, str]:
    result = run_plugin(
        "-H", "127.0.0.1", "-p", str(port), "--now", NOW_ARG, "--expect-file", path, *args
    )
    assert result.stderr == ""
    return result.code, result.first_line, result.stdout


def replace(path: str, item: Issued) -> None:
    with open(path, "wb") as handle:
        handle.write(item.cert_pem())


VR = ("--validity", "30d", "--rotation", "10d")


def test_uptake_both_directions(serve: Callable, make: Callable[..., Issued]) -> None:
    loaded = make(age=8, serial=0xA1)
    server = serve([loaded])
    port = server.port

    # the file is the one the server loaded: normal evaluation
    code, line, _ = check(port, server.cert_path, *VR)
    assert (code, line) == (
        0,
        f"CERT_VALIDITY OK - 127.0.0.1:{port} certificate 'svc.internal' has 22.0d left "
        "(expires 2026-12-22 12:00 UTC) | time_left=1900800s;1728000:2592000;864000:;;2592000",
    )

    # the rotation writes a newer certificate; the service is not reloaded
    replace(server.cert_path, make(age=1, serial=0xB2))
    code, line, out = check(port, server.cert_path, *VR, "-v")
    assert (code, line) == (
        1,
        f"CERT_VALIDITY WARNING - 127.0.0.1:{port} served certificate (serial A1, notBefore "
        f"2026-11-22 12:00 UTC) is not the one at {server.cert_path} (serial B2, notBefore "
        "2026-11-29 12:00 UTC): the service has not reloaded it; the one on disk is newer, "
        "written 24.0h ago; the served one has 22.0d left (expires 2026-12-22 12:00 UTC) "
        "| time_left=1900800s;1728000:2592000;864000:;;2592000",
    )
    assert "serial: A1" in out.splitlines()  # the server really still serves what it loaded
    assert f"expect-file: {server.cert_path}: differs; 'svc.internal' serial B2," in out

    # the other way: the file goes back to an older certificate than the one served
    older = make(age=15, serial=0xC3)
    replace(server.cert_path, older)
    code, line, _ = check(port, server.cert_path, *VR)
    assert code == 1
    assert line.startswith(
        f"CERT_VALIDITY WARNING - 127.0.0.1:{port} served certificate (serial A1, notBefore "
        f"2026-11-22 12:00 UTC) is not the one at {server.cert_path} (serial C3, notBefore "
        f"2026-11-15 12:00 UTC): the served one is newer; {server.cert_path} holds an older one "
        "(a restart would serve it); the served one has 22.0d left (expires 2026-12-22 12:00 UTC) |"
    )

    # a restarted service loads the file: equal again, OK (proves the WARNING came from it)
    restarted = serve([older])
    assert check(restarted.port, server.cert_path)[0] == 0


def test_uptake_failing_longer_than_r(serve: Callable, make: Callable[..., Issued]) -> None:
    server = serve([make(age=18, serial=0xA1)])
    replace(server.cert_path, make(age=12, serial=0xB2))
    code, line, _ = check(server.port, server.cert_path, *VR)
    # the served leaf is itself overdue; both are named, the earlier expiry first
    assert code == 1
    assert line == (
        f"CERT_VALIDITY WARNING - 127.0.0.1:{server.port} certificate 'svc.internal' has 12.0d "
        "left, rotation overdue by 8.0d (expires 2026-12-12 12:00 UTC); "
        f"127.0.0.1:{server.port} served certificate (serial A1, notBefore 2026-11-12 12:00 UTC) "
        f"is not the one at {server.cert_path} (serial B2, notBefore 2026-11-18 12:00 UTC): the "
        "service has not reloaded it; the one on disk is newer, written 12.0d ago, longer than "
        "R 10.0d: rotation overdue by 2.0d; the served one has 12.0d left (expires "
        "2026-12-12 12:00 UTC) | time_left=1036800s;1728000:2592000;864000:;;2592000"
    )


def test_served_critical_comes_first(serve: Callable, make: Callable[..., Issued]) -> None:
    server = serve([make(age=27, serial=0xA1)])
    replace(server.cert_path, make(age=1, serial=0xB2))
    code, line, _ = check(server.port, server.cert_path, *VR)
    assert code == 2
    assert line.startswith(
        f"CERT_VALIDITY CRITICAL - 127.0.0.1:{server.port} certificate 'svc.internal' has 3.0d "
        "left, rotation overdue by 17.0d, critical below 10.0d (expires 2026-12-03 12:00 UTC); "
        f"127.0.0.1:{server.port} served certificate (serial A1,"
    )


def test_expected_file_missing(serve: Callable, make: Callable[..., Issued], tmp_path: str) -> None:
    server = serve([make(age=8, serial=0xA1)])
    path = f"{tmp_path}/gone.pem"
    code, line, _ = check(server.port, path, *VR)
    assert (code, line) == (
        2,
        f"CERT_VALIDITY CRITICAL - {path}: no such file "
        "| time_left=1900800s;1728000:2592000;864000:;;2592000",
    )
