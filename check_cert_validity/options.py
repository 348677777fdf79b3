"""The command line's options: ``build_parser()`` is their one source of truth.

The man page, the Icinga CheckCommand and the README's option table are
generated from it (``tools/gendocs.py``). Building the parser has no side
effects and imports nothing heavy, so ``--help`` and ``-V`` stay quick.
"""

from __future__ import annotations

import argparse
import sys

from check_cert_validity import __version__
from check_cert_validity.durations import DurationError, parse_duration
from check_cert_validity.output import status_line

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from datetime import datetime
    from typing import NoReturn, Optional

    from check_cert_validity.thresholds import TimeRange

STATES = {"ok": 0, "warning": 1, "critical": 2, "unknown": 3}


class UsageError(Exception):
    """The command line is wrong: report it and exit UNKNOWN."""


class HelpOrVersionShown(Exception):
    """``--help``/``--version`` printed their text; exit UNKNOWN."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)

    def exit(self, status: int = 0, message: Optional[str] = None) -> NoReturn:
        if message:
            sys.stderr.write(message)
        raise HelpOrVersionShown(status)


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except DurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _range(text: str) -> TimeRange:
    from check_cert_validity.thresholds import ThresholdError, TimeRange

    try:
        return TimeRange.parse(text)
    except ThresholdError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}: not a number") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}: must be 1 to 65535")
    return port


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid timeout {text!r}: not a number") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(
            f"invalid timeout {text!r}: must be above 0 and at most 3600 seconds"
        )
    return value


def _dns_name(text: str, what: str) -> None:
    # socket and pyOpenSSL encode names with IDNA; a name it rejects (an empty
    # or over-long label: "a..b") would otherwise surface as an internal error.
    if text.isascii():  # the same rule without loading the idna codec (start-up time)
        labels = text[:-1].split(".") if text.endswith(".") else text.split(".")
        if all(0 < len(label) < 64 for label in labels):
            return
        raise argparse.ArgumentTypeError(f"invalid {what} {text!r}: label empty or too long")
    try:
        text.encode("idna")
    except UnicodeError as exc:
        reason = str(exc).rsplit("(UnicodeError: ", 1)[-1].rstrip(")")
        raise argparse.ArgumentTypeError(f"invalid {what} {text!r}: {reason}") from None


def _host(text: str) -> str:
    host = text.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1].strip()
    if not host:
        raise argparse.ArgumentTypeError("the host must not be empty")
    from check_cert_validity.addresses import ip_literal

    if ip_literal(host) is None:
        _dns_name(host, "host name")
    return host


def _server_name(text: str) -> str:
    name = text.strip()
    if not name:
        raise argparse.ArgumentTypeError("the server name must not be empty (--no-sni sends none)")
    _dns_name(name, "server name")
    return name


def _instant(text: str) -> datetime:
    from datetime import datetime, timezone

    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid time {text!r}: use ISO 8601, e.g. 2026-12-24T09:00Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _statsd_address(text: str) -> tuple[str, int]:
    from check_cert_validity.statsd import parse_address

    try:
        return parse_address(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    """The one source of truth for options (man page, Icinga, README follow it)."""
    parser = _Parser(
        prog="check_cert_validity",
        description=(
            "Check how long the TLS certificate an endpoint serves has left, and "
            "whether that is what a healthy rotation looks like. Watches validity "
            "time only: never judges signatures, trust chains or CAs."
        ),
        epilog=(
            "Durations: a number with an optional unit s, m, h, d or w; a bare "
            "number means days (90d, 36h, 1w). A healthy certificate has between "
            "V-R and V left; WARNING below V-R, CRITICAL below (V-R)/2."
        ),
    )
    parser.add_argument(
        "-V", "--version", action="version", version=f"check_cert_validity {__version__}"
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more output: -v certificate details, -vv timings, "
        "-vvv tracebacks of internal errors on stderr",
    )
    conn = parser.add_argument_group("endpoint")
    conn.add_argument(
        "-H",
        "--host",
        "--hostname",  # the guidelines' reserved long name for -H
        type=_host,
        help="host name, IPv4 or IPv6 address to connect to",
    )
    conn.add_argument(
        "-p", "--port", type=_port, help="TCP port (default: 443, or the --starttls protocol's)"
    )
    sni = conn.add_mutually_exclusive_group()
    sni.add_argument(
        "--sni",
        type=_server_name,
        metavar="NAME",
        help="server name to send (default: the host when it is a DNS name)",
    )
    sni.add_argument("--no-sni", action="store_true", help="send no server name")
    family = conn.add_mutually_exclusive_group()
    family.add_argument(
        "-4",
        "--ipv4",
        dest="family",
        action="store_const",
        const=4,
        default=0,
        help="connect over IPv4 only",
    )
    family.add_argument(
        "-6", "--ipv6", dest="family", action="store_const", const=6, help="connect over IPv6 only"
    )
    conn.add_argument(
        "-t",
        "--timeout",
        type=_seconds,
        default=10.0,
        metavar="SECONDS",
        help="one deadline for resolving, connecting and the handshake "
        "(default: 10, fractions allowed)",
    )
    conn.add_argument(
        "--unreachable-state",
        choices=list(STATES),
        default="critical",
        help="state when the endpoint (or --file) gives no certificate (default: critical)",
    )
    _add_starttls_options(parser)
    rules = parser.add_argument_group("thresholds")
    rules.add_argument(
        "--validity",
        type=_duration,
        metavar="V",
        help="lifetime the rotation system issues (default: the certificate's own lifetime)",
    )
    rules.add_argument(
        "--rotation",
        type=_duration,
        metavar="R",
        help="how often a fresh certificate is deployed (default: 2/3 of V)",
    )
    rules.add_argument(
        "-w",
        "--warning",
        type=_range,
        metavar="RANGE",
        help="Nagios range over time left (days; units allowed, e.g. 8h:), "
        "replaces the computed WARNING bound",
    )
    rules.add_argument(
        "-c",
        "--critical",
        type=_range,
        metavar="RANGE",
        help="Nagios range over time left (days; units allowed, e.g. 4h:), "
        "replaces the computed CRITICAL bound",
    )
    rules.add_argument(
        "--now",
        type=_instant,
        metavar="TIME",
        help="judge as of this ISO 8601 instant instead of the clock "
        "(what will this look like next week?)",
    )
    rules.add_argument(
        "--explain",
        action="store_true",
        help="print the range and alert points V and R give, connect nowhere",
    )
    _add_disk_options(parser)
    metrics = parser.add_argument_group("metrics (Prometheus, StatsD)")
    metrics.add_argument(
        "--output",
        choices=("nagios", "openmetrics"),
        default="nagios",
        help="nagios: the status line (default); openmetrics: Prometheus/OpenMetrics text "
        "exposition of the same judgement instead (the exit code stays the Nagios state)",
    )
    metrics.add_argument(
        "--statsd",
        type=_statsd_address,
        metavar="HOST:PORT",
        help="also send the gauges as StatsD UDP datagrams (fire-and-forget; port default 8125)",
    )
    metrics.add_argument(
        "--statsd-prefix",
        default="cert_validity",
        metavar="P",
        help="StatsD name prefix (default: cert_validity)",
    )
    return parser


def _add_disk_options(parser: argparse.ArgumentParser) -> None:
    """Issue 4: the whole chain, certificate files, failed uptake."""
    disk = parser.add_argument_group("chain and certificate files")
    disk.add_argument(
        "--chain",
        action="store_true",
        help="judge every certificate the server presents (or the file holds): WARNING/"
        "CRITICAL apply to the one that expires first, the upper bound to the leaf only",
    )
    disk.add_argument(
        "--file",
        metavar="PATH",
        help="check a certificate file instead of an endpoint (PEM, a PEM bundle leaf "
        "first, DER; a private key in it is skipped). Missing, empty or no certificate: "
        "CRITICAL (--unreachable-state); unreadable or a directory: UNKNOWN",
    )
    disk.add_argument(
        "--expect-file",
        metavar="PATH",
        help="with -H: WARNING when the served certificate is not the one in PATH "
        "(compared byte for byte): the service has not reloaded it",
    )


def _add_starttls_options(parser: argparse.ArgumentParser) -> None:
    from check_cert_validity.starttls import PROTOCOLS

    group = parser.add_argument_group("protocols, addresses and client certificates")
    group.add_argument(
        "-P",
        "--starttls",
        choices=list(PROTOCOLS),
        metavar="PROTO",
        help="speak this protocol's plaintext preamble before TLS; sets the default port: "
        + ", ".join(f"{name} ({proto.port})" for name, proto in PROTOCOLS.items())
        + " (postgres-direct: PostgreSQL 17 direct TLS with ALPN, no preamble)",
    )
    group.add_argument(
        "--resolve",
        type=_host,
        metavar="ADDRESS",
        help="connect to this address instead of resolving -H; -H stays the name "
        "sent as SNI and shown (one node behind a load balancer)",
    )
    group.add_argument(
        "--client-cert", metavar="FILE", help="PEM client certificate (chain) to present"
    )
    group.add_argument(
        "--client-key",
        metavar="FILE",
        help="PEM private key for --client-cert (default: in the certificate file)",
    )


def usage_text(message: str) -> str:
    """The UNKNOWN status line for a usage error, then the usage."""
    return status_line("UNKNOWN", f"usage error: {message}") + "\n" + build_parser().format_usage()
