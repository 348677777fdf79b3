"""CRLs in files: judged by the validity/rotation model, through the installed plugin.

Every CRL here is published by a real ``openssl ca -gencrl`` with exact
thisUpdate/nextUpdate (``crlca.OpenSslCa``), read by ``--file`` alone or in
a PEM bundle beside certificates, and judged as of the suite's fixed NOW.
The cryptography-vectors CRLs (odd versions, bad times, no nextUpdate,
almost 10,000 entries) must each give a state and one clean line.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import cryptography_vectors
import pytest
from crlca import OpenSslCa, without_next_update

from check_cert_validity.certfactory import Issued, issue
from check_cert_validity.cli import main

from conftest import DAY, NOW, NOW_ARG, run_plugin

HOUR = timedelta(hours=1)


@pytest.fixture
def ca(tmp_path: Path) -> OpenSslCa:
    authority = OpenSslCa(tmp_path / "ca")
    authority.revoke(leaf_of(authority, NOW - 40 * DAY, NOW - 10 * DAY))
    return authority


def leaf_of(authority: OpenSslCa, start: datetime, end: datetime) -> Issued:
    return issue(common_name="svc.internal", not_before=start, not_after=end, issuer=authority.ca)


def write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def check(*args: str) -> tuple[int, str]:
    run = run_plugin(*args, "--now", NOW_ARG)
    assert run.stderr == "", "nothing on stderr: no traceback, no library warning"
    return run.code, run.stdout


def test_a_weekly_crl_published_daily_is_ok_and_says_what_it_is(
    ca: OpenSslCa, tmp_path: Path
) -> None:
    path = write(tmp_path, "ca.crl", ca.gencrl(NOW - 12 * HOUR, NOW + 6.5 * DAY))
    code, out = check("--file", path, "--validity", "7d", "--rotation", "1d")
    assert (code, out) == (
        0,
        f"CERT_VALIDITY OK - {path} CRL of 'Test CRL CA' (number 42) has 6.5d left "
        "(nextUpdate 2026-12-07 00:00 UTC) | crl_time_left=561600s;518400:604800;259200:;;604800\n",
    )


def test_a_der_crl_and_its_revoked_entries_in_the_long_output(
    ca: OpenSslCa, tmp_path: Path
) -> None:
    ca.revoke(leaf_of(ca, NOW - 5 * DAY, NOW + 25 * DAY))
    path = write(tmp_path, "ca.der", ca.gencrl(NOW - DAY, NOW + 6 * DAY, der=True))
    code, out = check("--file", path, "-v")
    lines = out.splitlines()
    assert code == 0
    assert lines[0].startswith(f"CERT_VALIDITY OK - {path} CRL of 'Test CRL CA' (number 42) ")
    assert "CRL number: 42" in lines
    assert "revoked entries: 2" in lines
    assert "thisUpdate: 2026-11-29T12:00:00+00:00" in lines
    assert "nextUpdate: 2026-12-06T12:00:00+00:00" in lines
    assert f"file: {path} (DER, 1 CRL)" in lines


def test_a_missed_publication_is_a_warning_in_the_models_words(
    ca: OpenSslCa, tmp_path: Path
) -> None:
    # published 2 days ago although the CA publishes daily: one publication was missed
    path = write(tmp_path, "ca.crl", ca.gencrl(NOW - 2 * DAY, NOW + 5 * DAY))
    code, out = check("--file", path, "--validity", "7d", "--rotation", "1d")
    assert code == 1
    assert out.startswith(
        f"CERT_VALIDITY WARNING - {path} CRL of 'Test CRL CA' (number 42) has 5.0d left, "
        "rotation overdue by 24.0h (nextUpdate 2026-12-05 12:00 UTC) | "
    )


def test_a_crl_past_its_next_update_is_critical(ca: OpenSslCa, tmp_path: Path) -> None:
    path = write(tmp_path, "ca.crl", ca.gencrl(NOW - 8 * DAY, NOW - 3 * HOUR))
    code, out = check("--file", path)
    assert code == 2
    assert out.startswith(
        f"CERT_VALIDITY CRITICAL - {path} CRL of 'Test CRL CA' (number 42) expired 3.0h ago "
        "(nextUpdate 2026-11-30 09:00 UTC) | crl_time_left=-10800s;"
    )


def test_a_crl_from_the_future_is_critical(ca: OpenSslCa, tmp_path: Path) -> None:
    path = write(tmp_path, "ca.crl", ca.gencrl(NOW + 2 * HOUR, NOW + 7 * DAY))
    code, out = check("--file", path)
    assert code == 2
    assert out.startswith(
        f"CERT_VALIDITY CRITICAL - {path} CRL of 'Test CRL CA' (number 42) is not valid for "
        "another 2.0h (thisUpdate 2026-11-30 14:00 UTC) | "
    )


def test_a_crl_valid_longer_than_the_ca_issues_is_not_from_this_ca(
    ca: OpenSslCa, tmp_path: Path
) -> None:
    path = write(tmp_path, "ca.crl", ca.gencrl(NOW - HOUR, NOW + 30 * DAY))
    code, out = check("--file", path, "--validity", "7d", "--rotation", "1d")
    assert code == 1
    assert "lifetime 30.0d exceeds validity 7.0d: not issued by this rotation" in out


def test_a_crl_without_next_update_is_unknown_and_says_so(ca: OpenSslCa, tmp_path: Path) -> None:
    undated = without_next_update(ca.gencrl(NOW - DAY, NOW + 6 * DAY, der=True))
    path = write(tmp_path, "ca.der", undated)
    assert check("--file", path) == (
        3,
        f"CERT_VALIDITY UNKNOWN - {path}: CRL of 'Test CRL CA' (number 42) has no nextUpdate\n",
    )


def test_a_crl_without_a_number_says_so(tmp_path: Path) -> None:
    unnumbered = OpenSslCa(tmp_path / "plain", name="Plain CA", numbered=False)
    path = write(tmp_path, "plain.crl", unnumbered.gencrl(NOW - DAY, NOW + 6 * DAY))
    code, out = check("--file", path)
    assert (code, out.split(" has ")[0]) == (
        0,
        f"CERT_VALIDITY OK - {path} CRL of 'Plain CA' (no CRL number)",
    )


def test_every_crl_of_a_crl_file_is_judged(ca: OpenSslCa, tmp_path: Path) -> None:
    # nginx's ssl_crl and OpenVPN's crl-verify take one file with the CRL of every CA level
    root = OpenSslCa(tmp_path / "root", name="Root CA")
    fresh = ca.gencrl(NOW - DAY, NOW + 6 * DAY)
    stale = root.gencrl(NOW - 31 * DAY, NOW - DAY)
    path = write(tmp_path, "all.crl", fresh + stale)
    code, out = check("--file", path)
    assert code == 2
    assert out.startswith(
        f"CERT_VALIDITY CRITICAL - {path} CRL of 'Root CA' (number 42) expired 24.0h ago "
    )
    assert "crl_time_left=" in out and "crl_time_left1=" in out


def test_a_damaged_crl_is_critical_like_a_damaged_certificate(
    ca: OpenSslCa, tmp_path: Path
) -> None:
    pem = ca.gencrl(NOW - DAY, NOW + 6 * DAY)
    lines = pem.splitlines(keepends=True)
    damaged = b"".join(lines[:3] + lines[-1:])  # body lines lost, BEGIN/END kept
    path = write(tmp_path, "ca.crl", damaged)
    assert check("--file", path) == (
        2,
        f"CERT_VALIDITY CRITICAL - {path}: PEM block 1 (X509 CRL) is not a valid CRL\n",
    )


def bundle(ca: OpenSslCa, tmp_path: Path, crl_end: datetime) -> str:
    leaf = leaf_of(ca, NOW - 5 * DAY, NOW + 85 * DAY)
    return write(tmp_path, "bundle.pem", leaf.cert_pem() + ca.gencrl(NOW - DAY, crl_end))


def test_a_crl_beside_certificates_is_judged_with_chain_only(ca: OpenSslCa, tmp_path: Path) -> None:
    path = bundle(ca, tmp_path, NOW - HOUR)
    code, out = check("--file", path)
    assert code == 0, "without --chain the leaf alone is judged, as before"
    assert " CRL " not in out
    code, out = check("--file", path, "--chain")
    assert code == 2
    assert out.startswith(
        f"CERT_VALIDITY CRITICAL - {path} CRL of 'Test CRL CA' (number 42) expired 1.0h ago "
    )


def test_a_crl_beside_certificates_is_judged_by_its_own_lifetime(
    ca: OpenSslCa, tmp_path: Path
) -> None:
    # the certificate's V=90d/R=30d would make a weekly CRL with 5 days left a WARNING
    path = bundle(ca, tmp_path, NOW + 5 * DAY)
    code, out = check("--file", path, "--chain", "--validity", "90d", "--rotation", "30d")
    assert code == 0, out
    assert "crl_time_left=432000s;172800:;86400:;;518400" in out
    # ... and by --crl-validity/--crl-rotation when given: published daily, this one is late
    code, out = check(
        "--file",
        path,
        "--chain",
        "--validity",
        "90d",
        "--crl-validity",
        "7d",
        "--crl-rotation",
        "1d",
    )
    assert code == 1, out
    assert (
        f"{path} CRL of 'Test CRL CA' (number 42) has 5.0d left, rotation overdue by 24.0h" in out
    )
    assert "time_left=7344000s;2592000:7776000;1296000:" in out, "the leaf still by --validity"


def test_crl_rotation_must_be_shorter_than_crl_validity(tmp_path: Path) -> None:
    code, out = check("--file", "x.pem", "--crl-validity", "7d", "--crl-rotation", "7d")
    assert code == 3
    assert out.startswith(
        "CERT_VALIDITY UNKNOWN - usage error: --crl-rotation 7.0d must be shorter than "
        "--crl-validity 7.0d\n"
    )


def test_crl_gauges_say_what_was_judged(ca: OpenSslCa, tmp_path: Path) -> None:
    path = bundle(ca, tmp_path, NOW + 5 * DAY)
    code, out = check("--file", path, "--chain", "--output", "openmetrics")
    assert code == 0
    labels = f'host="{path}",port="0",sni=""'
    assert (
        f'cert_validity_time_left_seconds{{{labels},kind="crl",position="0",cn="Test CRL CA",'
        'issuer="Test CRL CA",serial="42"} 432000\n'
    ) in out
    assert (
        f'cert_validity_time_left_seconds{{{labels},kind="certificate",position="0",'
        'cn="svc.internal",issuer="Test CRL CA",'
    ) in out
    assert f'cert_validity_expected_max_seconds{{{labels},kind="crl",' in out
    assert out.endswith("# EOF\n")


VECTORS = Path(cryptography_vectors.__file__).parent / "x509"
CRL_CORPUS = sorted(
    [*VECTORS.glob("custom/crl_*"), *VECTORS.glob("*crl*.pem"), *VECTORS.glob("PKITS_data/crls/*")]
)
LINE = re.compile(
    r"CERT_VALIDITY (OK|WARNING|CRITICAL|UNKNOWN) - [^|\n]+( \| crl_time_left[^|\n]+)?"
)


def test_the_crl_corpus_is_there() -> None:
    assert len(CRL_CORPUS) > 100
    assert VECTORS / "custom" / "crl_no_next_update.pem" in CRL_CORPUS


@pytest.mark.parametrize("path", CRL_CORPUS, ids=lambda path: str(path.relative_to(VECTORS)))
def test_every_crl_of_the_corpus_gives_one_clean_line(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # in-process (the console script's own main): 170 files, twice each
    for verbose in ([], ["-v"]):
        code = main(["--file", str(path), "--now", NOW_ARG, *verbose])
        out, err = capsys.readouterr()
        lines = out.splitlines()
        assert (code in (0, 1, 2, 3), err) == (True, "")
        assert LINE.fullmatch(lines[0]), lines[0]
        assert "internal error" not in out
        assert len(lines) == 1 or verbose
