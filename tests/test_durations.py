"""Durations as typed on the command line and as printed."""

import pytest

from check_cert_validity.durations import DurationError, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90d", 90 * 86400),
        ("90", 90 * 86400),
        ("0.5", 43200),
        ("36h", 36 * 3600),
        ("1w", 7 * 86400),
        ("45m", 2700),
        ("30s", 30),
        ("2.5D", 2.5 * 86400),
        (" 7d ", 7 * 86400),
    ],
)
def test_parse(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "d", "10x", "1d2h", "-5d", "ten", "5 days", "1e3"])
def test_parse_rejects(text: str) -> None:
    with pytest.raises(DurationError, match="invalid duration"):
        parse_duration(text)


def test_negative_only_when_allowed() -> None:
    assert parse_duration("-2d", allow_negative=True) == -2 * 86400


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (14.2 * 86400, "14.2d"),
        (2 * 86400, "2.0d"),
        (2 * 86400 - 1, "48.0h"),
        (7.5 * 3600, "7.5h"),
        (3600, "1.0h"),
        (3599, "60m"),
        (720, "12m"),
        (40, "40s"),
        (-3 * 86400, "-3.0d"),
    ],
)
def test_format(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
