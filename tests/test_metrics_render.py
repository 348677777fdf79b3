"""The pure metrics layer: gauges from a reading, exposition text, StatsD datagrams.

The exposition text is also read back with prometheus_client's strict
OpenMetrics parser and its Prometheus text parser, so "valid in both formats"
is checked by a parser that is not ours (promtool and node_exporter check it
too, in test_prometheus_tools.py).
"""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_prometheus

from check_cert_validity import gauges, openmetrics, statsd
from check_cert_validity.certfactory import issue
from check_cert_validity.certinfo import CertFacts
from check_cert_validity.judgement import Acquired, Unreadable, judge
from check_cert_validity.thresholds import Policy, TimeRange

from conftest import DAY, NOW

D = 86400


def facts(age: float, lifetime: float, **kwargs: object) -> CertFacts:
    start = NOW - timedelta(days=age)
    cert = issue(not_before=start, not_after=start + timedelta(days=lifetime), **kwargs)  # type: ignore[arg-type]
    return CertFacts.from_certificate(cert.cert)


def judged(
    certs: tuple[CertFacts, ...], policy: Policy, sni: str | None = None
) -> list[gauges.Sample]:
    """The samples of a judgement of ``certs`` as db1.internal:5433 serves them."""
    acquired = Acquired("db1.internal:5433", certs, None if certs else Unreadable("refused"))
    return gauges.samples(judge(acquired, policy, NOW), "db1.internal", 5433, sni)


def values(samples: list[gauges.Sample]) -> dict[str, float]:
    return {s.gauge.key: s.value for s in samples}


def test_values_are_the_judgement_s_numbers_in_seconds() -> None:
    leaf = facts(age=5, lifetime=30)
    got = values(judged((leaf,), Policy(30 * D, 10 * D)))
    assert got == {
        "probe_success": 1,
        "state": 0,
        "time_left_seconds": 25 * D,
        "lifetime_seconds": 30 * D,
        "age_seconds": 5 * D,
        "not_after_timestamp_seconds": (NOW + 25 * DAY).timestamp(),
        "expected_min_seconds": 20 * D,
        "expected_max_seconds": 30 * D,
        "critical_seconds": 10 * D,
    }


@pytest.mark.parametrize(
    ("policy", "expected_min", "expected_max", "critical"),
    [
        # Defaults: V = the lifetime (90d), R = 2/3 V.
        (Policy(), 30 * D, 90 * D, 15 * D),
        (Policy(90 * D, 60 * D), 30 * D, 90 * D, 15 * D),
        # -c 4d: replaces the computed critical point; the expected range stays V-R..V.
        (Policy(90 * D, 60 * D, critical=TimeRange.parse("4d:")), 30 * D, 90 * D, 4 * D),
        # -c @0:5 is not "alert below N": no single critical point to export.
        (Policy(90 * D, 60 * D, critical=TimeRange.parse("@0:5")), 30 * D, 90 * D, None),
    ],
)
def test_bounds_follow_the_policy(
    policy: Policy, expected_min: float, expected_max: float, critical: float | None
) -> None:
    leaf = facts(age=10, lifetime=90)
    got = values(judged((leaf,), policy))
    assert got["expected_min_seconds"] == expected_min
    assert got["expected_max_seconds"] == expected_max
    assert got.get("critical_seconds") == critical


def test_expired_and_not_yet_valid_are_negative() -> None:
    no_bounds = Policy(rotation=60 * D)  # R longer than the 30-day lifetime: no bounds
    expired = values(judged((facts(age=31, lifetime=30),), no_bounds))
    assert (expired["time_left_seconds"], expired["age_seconds"]) == (-1 * D, 31 * D)
    assert expired["state"] == 2
    future = values(judged((facts(age=-2, lifetime=30),), no_bounds))
    assert (future["time_left_seconds"], future["age_seconds"]) == (32 * D, -2 * D)
    # Without bounds only the certificate's own times are exported.
    assert "expected_min_seconds" not in expired
    assert "expected_min_seconds" in values(judged((facts(age=31, lifetime=30),), Policy()))


def test_unreachable_endpoint_whole_exposition() -> None:
    text = openmetrics.render(judged((), Policy(), sni="db1.internal"))
    labels = 'host="db1.internal",port="5433",sni="db1.internal"'
    assert text == (
        "# HELP cert_validity_probe_success 1 when the endpoint served a certificate "
        "(or the CRL was read), 0 when it could not be read.\n"
        "# TYPE cert_validity_probe_success gauge\n"
        f"cert_validity_probe_success{{{labels}}} 0\n"
        "# HELP cert_validity_state Nagios state of the check, its exit code: "
        "0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.\n"
        "# TYPE cert_validity_state gauge\n"
        f"cert_validity_state{{{labels}}} 2\n"
        "# EOF\n"
    )


def test_one_series_per_chain_element() -> None:
    leaf, ca = facts(age=1, lifetime=7), facts(age=100, lifetime=3650, common_name="CA")
    judgement = judge(Acquired("h:443", (leaf, ca)), Policy(7 * D, 2 * D, whole_chain=True), NOW)
    text = openmetrics.render(gauges.samples(judgement, "h", 443, None))
    families = {f.name: f for f in parse_openmetrics(text)}
    left = families["cert_validity_time_left_seconds"].samples
    assert [(s.labels["position"], s.labels["cn"], s.value) for s in left] == [
        ("0", "localhost", 6 * D),
        ("1", "CA", 3550 * D),
    ]
    # The CA is held to the leaf's lower bounds: V-R is exported for both.
    lower = families["cert_validity_expected_min_seconds"].samples
    assert [(s.labels["position"], s.value) for s in lower] == [("0", 5 * D), ("1", 5 * D)]
    # negative control: without --chain only the leaf is judged, and only it is exported
    leaf_only = gauges.samples(
        judge(Acquired("h:443", (leaf, ca)), Policy(7 * D, 2 * D), NOW), "h", 443, None
    )
    assert {s.label("position") for s in leaf_only} == {"", "0"}
    assert text.count("# TYPE cert_validity_time_left_seconds gauge") == 1


HOSTILE = [
    'a"b',
    "back\\slash",
    "new\nline",
    "pipe|pipe",
    '"} 1\n# EOF\nfake{x="',
    "nul\x00esc\x1b[0mdel\x7f",
    "cr\rline\u2028sep",
    "lone \udcff surrogate",
    "unicode é ✓ 証明書",
    "",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_label_values_round_trip_through_both_parsers(value: str) -> None:
    sample = gauges.Sample(gauges.TIME_LEFT, (("cn", value), ("serial", value)), 5.0)
    text = openmetrics.render([sample])
    assert text.count("\n") == 5  # HELP, TYPE, UNIT, the series, EOF
    text.encode("utf-8")  # writable as UTF-8, lone surrogates included
    om = list(parse_openmetrics(text))
    prom = list(parse_prometheus(text))
    assert [f.name for f in om] == ["cert_validity_time_left_seconds"]
    expected = (
        value.encode("utf-8", "backslashreplace")
        .decode()
        .replace("\x00", "\\x00")
        .replace("\x1b", "\\x1b")
        .replace("\x7f", "\\x7f")
        .replace("\r", "\\x0d")
        .replace("\u2028", "\\u2028")
    )
    assert om[0].samples[0].labels == {"cn": expected, "serial": expected}
    assert prom[0].samples[0].labels == {"cn": expected, "serial": expected}
    assert om[0].samples[0].value == 5.0


def test_negative_control_unescaped_quote_is_rejected() -> None:
    """The parsers used above do reject what escaping prevents."""
    broken = '# TYPE x gauge\nx{cn="a"b"} 1\n# EOF\n'
    with pytest.raises(ValueError):
        list(parse_openmetrics(broken))
    with pytest.raises(ValueError):
        list(parse_openmetrics("# TYPE x gauge\nx 1\n"))  # OpenMetrics needs # EOF


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (2160000.0, "2160000"),
        (-86400.0, "-86400"),
        (0.5, "0.5"),
        (1798200000.0, "1798200000"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
        (math.nan, "NaN"),
    ],
)
def test_value_format(value: float, text: str) -> None:
    assert openmetrics.format_value(value) == text


def test_help_texts_need_no_escaping_in_either_format() -> None:
    for gauge in gauges.GAUGES:
        assert not set(gauge.help) & {"\\", '"', "\n"}, gauge.key
        assert gauge.name.endswith("_" + gauge.unit) if gauge.unit else True


# --- StatsD -----------------------------------------------------------------


def statsd_sample(
    key: str, value: float, host: str = "db1.internal", sni: str = "", position: str = ""
) -> gauges.Sample:
    gauge = next(g for g in gauges.GAUGES if g.key == key)
    labels: list[tuple[str, str]] = [("host", host), ("port", "5433"), ("sni", sni)]
    if position:
        labels += [("position", position), ("cn", 'evil|cn:"x"\n'), ("serial", "01:02")]
    return gauges.Sample(gauge, tuple(labels), value)


@pytest.mark.parametrize(
    ("sample", "prefix", "name"),
    [
        (statsd_sample("state", 1), "cert_validity", "cert_validity.db1_internal.5433.state"),
        (
            statsd_sample("time_left_seconds", 5, position="0"),
            "cert_validity",
            "cert_validity.db1_internal.5433.time_left_seconds",
        ),
        (
            statsd_sample("time_left_seconds", 5, position="2"),
            "ops.certs",
            "ops.certs.db1_internal.5433.chain2.time_left_seconds",
        ),
        (
            statsd_sample("age_seconds", 5, host="::1", sni="svc.internal"),
            "",
            "__1.5433.svc_internal.age_seconds",
        ),
        (
            statsd_sample("state", 0, host="db1.internal", sni="db1.internal"),
            "p",
            "p.db1_internal.5433.state",
        ),
        (statsd_sample("state", 0, host="a:b|c@d#e\nf"), "x:y|z", "x_y_z.a_b_c_d_e_f.5433.state"),
    ],
)
def test_statsd_names(sample: gauges.Sample, prefix: str, name: str) -> None:
    assert statsd.metric_name(sample, prefix) == name


def test_statsd_negative_gauge_is_reset_first_and_nan_is_dropped() -> None:
    assert statsd.gauge_lines(statsd_sample("time_left_seconds", -86400, position="0")) == [
        "cert_validity.db1_internal.5433.time_left_seconds:0|g",
        "cert_validity.db1_internal.5433.time_left_seconds:-86400|g",
    ]
    assert statsd.gauge_lines(statsd_sample("state", 0.25)) == [
        "cert_validity.db1_internal.5433.state:0.25|g"
    ]
    assert statsd.gauge_lines(statsd_sample("state", math.nan)) == []


def test_statsd_datagrams_pack_whole_gauges_under_the_limit() -> None:
    samples = [
        statsd_sample("time_left_seconds", -value, position=str(pos))
        for pos, value in enumerate(range(1000, 1040))
    ]
    packets = statsd.datagrams(samples, limit=300)
    assert len(packets) > 1
    assert all(len(packet) <= 300 for packet in packets)
    lines = [line for packet in packets for line in packet.decode().split("\n")]
    assert lines == [line for s in samples for line in statsd.gauge_lines(s)]
    for packet in packets:  # a reset and its negative value travel together
        first = packet.decode().split("\n")[0]
        assert first.endswith(":0|g")
    assert statsd.datagrams([]) == []


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("127.0.0.1:8125", ("127.0.0.1", 8125)),
        ("statsd.internal", ("statsd.internal", 8125)),
        ("[::1]:9125", ("::1", 9125)),
        ("[::1]", ("::1", 8125)),
        ("::1", ("::1", 8125)),
        ("localhost:1", ("localhost", 1)),
    ],
)
def test_statsd_address(text: str, address: tuple[str, int]) -> None:
    assert statsd.parse_address(text) == address


@pytest.mark.parametrize("text", ["h:0", "h:65536", "h:x", ":8125", "[::1", "[::1]x", ""])
def test_statsd_bad_address(text: str) -> None:
    with pytest.raises(ValueError, match="invalid address"):
        statsd.parse_address(text)


def test_issuer_label_is_the_issuers_cn_else_its_dn() -> None:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    start = NOW - timedelta(days=1)
    when = {"not_before": start - 100 * DAY, "not_after": start + 900 * DAY}
    named_ca = issue(common_name="Fleet CA 1", ca=True, **when)  # type: ignore[arg-type]
    dn_only = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Ops|Team"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, 'pki "east"\n'),
        ]
    )
    anonymous_ca = issue(subject=dn_only, ca=True, **when)  # type: ignore[arg-type]
    found = []
    for ca in (named_ca, anonymous_ca):
        leaf = issue(not_before=start, not_after=start + 7 * DAY, issuer=ca)
        samples = judged((CertFacts.from_certificate(leaf.cert),), Policy())
        text = openmetrics.render(samples)
        (family,) = [
            f for f in parse_openmetrics(text) if f.name == "cert_validity_time_left_seconds"
        ]
        found.append(family.samples[0].labels["issuer"])
    # printable like cn: controls and "|" become visible escapes, on one line
    # (the DN is RFC 4514, which escapes the quotes itself)
    assert found == ["Fleet CA 1", 'OU=pki \\"east\\"\\x0a,O=Ops\\x7cTeam']
    # negative control: the endpoint-wide series carry no certificate labels
    assert "issuer" not in dict(judged((), Policy())[0].labels)
