"""Option value converters: command-line text to a checked value.

Each raises what argparse words as ``argument -x: message`` (``invalid``);
``arguments.py`` calls them directly and leaves any refusal to argparse, so
the message is argparse's either way. argparse itself is imported only when
a value is refused.
"""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING

from check_cert_validity.durations import DurationError, parse_duration

if TYPE_CHECKING:
    from datetime import datetime

    from check_cert_validity.thresholds import TimeRange


def invalid(message: str) -> Exception:
    """What a converter raises: argparse words it as "argument -x: message"."""
    import argparse

    return argparse.ArgumentTypeError(message)


def duration(text: str) -> float:
    """A duration (``--validity``, ``--rotation``) in seconds."""
    try:
        return parse_duration(text)
    except DurationError as exc:
        raise invalid(str(exc)) from None


def time_range(text: str) -> TimeRange:
    """A Nagios range over time left (``-w``, ``-c``)."""
    from check_cert_validity.thresholds import ThresholdError, TimeRange

    try:
        return TimeRange.parse(text)
    except ThresholdError as exc:
        raise invalid(str(exc)) from None


def port(text: str) -> int:
    """A TCP port, 1 to 65535."""
    try:
        number = int(text)
    except ValueError:
        raise invalid(f"invalid port {text!r}: not a number") from None
    if not 1 <= number <= 65535:
        raise invalid(f"invalid port {text!r}: must be 1 to 65535")
    return number


def seconds(text: str) -> float:
    """The ``-t`` timeout: above 0, at most an hour."""
    try:
        value = float(text)
    except ValueError:
        raise invalid(f"invalid timeout {text!r}: not a number") from None
    if not 0 < value <= 3600:
        raise invalid(f"invalid timeout {text!r}: must be above 0 and at most 3600 seconds")
    return value


def _dns_name(text: str, what: str) -> None:
    # socket and pyOpenSSL encode names with IDNA; a name it rejects (an empty
    # or over-long label: "a..b") would otherwise surface as an internal error.
    if text.isascii():  # the same rule without loading the idna codec (start-up time)
        labels = text[:-1].split(".") if text.endswith(".") else text.split(".")
        if all(0 < len(label) < 64 for label in labels):
            return
        raise invalid(f"invalid {what} {text!r}: label empty or too long")
    try:
        text.encode("idna")
    except UnicodeError as exc:
        reason = str(exc).rsplit("(UnicodeError: ", 1)[-1].rstrip(")")
        raise invalid(f"invalid {what} {text!r}: {reason}") from None


def host(text: str) -> str:
    """``-H``/``--resolve``: an IP literal (brackets allowed) or a valid DNS name."""
    host = text.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1].strip()
    if not host:
        raise invalid("the host must not be empty")
    from check_cert_validity.addresses import ip_literal

    if ip_literal(host) is None:
        _dns_name(host, "host name")
    return host


def server_name(text: str) -> str:
    """``--sni``: a valid DNS name to send."""
    name = text.strip()
    if not name:
        raise invalid("the server name must not be empty (--no-sni sends none)")
    _dns_name(name, "server name")
    return name


def instant(text: str) -> datetime:
    """``--now``: ISO 8601, UTC when no offset is given."""
    from datetime import datetime

    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise invalid(f"invalid time {text!r}: use ISO 8601, e.g. 2026-12-24T09:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def statsd_address(text: str) -> tuple[str, int]:
    """``--statsd HOST[:PORT]``."""
    from check_cert_validity.statsd import parse_address

    try:
        return parse_address(text)
    except ValueError as exc:
        raise invalid(str(exc)) from None


def crl_url(text: str) -> str:
    """``--crl URL``: an http or https URL (the download itself checks the rest)."""
    from check_cert_validity.httpfetch import FetchError, parse_url

    try:
        return parse_url(text).text
    except FetchError as exc:
        raise invalid(str(exc)) from None
