"""Command line: ``build_parser()`` has no side effects; ``main()`` runs a check.

Exit codes follow the Monitoring Plugins guidelines: 0 OK, 1 WARNING,
2 CRITICAL, 3 UNKNOWN (also for usage errors, ``--help`` and ``--version``).
Heavy imports (pyOpenSSL, cryptography, nagiosplugin) happen only on the
paths that need them.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import traceback
from datetime import datetime, timezone
from typing import NoReturn, Optional, Sequence

from check_cert_validity import __version__
from check_cert_validity.durations import DurationError, parse_duration
from check_cert_validity.output import status_line
from check_cert_validity.thresholds import Policy, ThresholdError, TimeRange

UNKNOWN = 3
STATES = {"ok": 0, "warning": 1, "critical": 2, "unknown": 3}


class UsageError(Exception):
    """The command line is wrong: report it and exit UNKNOWN."""


class Interrupted(Exception):
    """A signal (SIGTERM from a scheduler, SIGINT) asked us to stop."""


class _Exit(Exception):
    """``--help``/``--version`` printed their text; exit UNKNOWN."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)

    def exit(self, status: int = 0, message: Optional[str] = None) -> NoReturn:
        if message:
            sys.stderr.write(message)
        raise _Exit(status)


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except DurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _range(text: str) -> TimeRange:
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
    if not _is_ip(host):
        _dns_name(host, "host name")
    return host


def _is_ip(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _server_name(text: str) -> str:
    name = text.strip()
    if not name:
        raise argparse.ArgumentTypeError("the server name must not be empty (--no-sni sends none)")
    _dns_name(name, "server name")
    return name


def _instant(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid time {text!r}: use ISO 8601, e.g. 2026-12-24T09:00Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


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
        "-H", "--host", type=_host, help="host name, IPv4 or IPv6 address to connect to"
    )
    conn.add_argument("-p", "--port", type=_port, default=443, help="TCP port (default: 443)")
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
        help="state when the endpoint gives no certificate (default: critical)",
    )
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
    return parser


def parse(argv: Optional[Sequence[str]]) -> tuple[argparse.Namespace, Policy]:
    """Parse and cross-check the command line; raises UsageError."""
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        # -4/-6 exist, so argparse reads "-1d" as an option, not a value, and
        # says only "expected one argument": name the real cause.
        given = sys.argv[1:] if argv is None else argv
        if str(exc).endswith("expected one argument") and any(
            len(a) > 1 and (a[1].isdigit() or a[1] == ".") and a[0] == "-" for a in given
        ):
            raise UsageError(f"{exc} (negative values are not allowed)") from None
        raise
    try:
        policy = Policy(args.validity, args.rotation, args.warning, args.critical)
    except ThresholdError as exc:
        raise UsageError(str(exc)) from None
    if not args.explain and not args.host:
        raise UsageError("-H/--host is required")
    if args.explain and args.validity is None:
        raise UsageError("--explain needs --validity (and optionally --rotation)")
    return args, policy


def explain(policy: Policy) -> str:
    """The --explain text."""
    from check_cert_validity.thresholds import Bounds

    assert policy.validity is not None
    return "\n".join(Bounds.derive(policy, policy.validity).explain()) + "\n"


def run_check(
    args: argparse.Namespace, policy: Policy, started: Optional[float] = None
) -> tuple[str, int]:
    """Fetch, judge and render one endpoint's certificate (``-t`` counts from ``started``)."""
    import nagiosplugin

    from check_cert_validity import plugin, transport
    from check_cert_validity.output import render

    sni = (
        None
        if args.no_sni
        else (args.sni or (None if transport.ip_literal(args.host) else args.host))
    )
    endpoint = transport.Endpoint(host=args.host, port=args.port, sni=sni, family=args.family)
    now = args.now or datetime.now(timezone.utc)
    resource = plugin.ServedCertificate(
        lambda: transport.fetch(endpoint, args.timeout, started=started), endpoint.label
    )
    check = nagiosplugin.Check(
        resource,
        plugin.ValidityContext(policy, now, endpoint.label),
        plugin.EndpointContext(STATES[args.unreachable_state], endpoint.label),
        plugin.CertSummary(args.verbose, now),
        name="CERT_VALIDITY",
    )
    check()
    return render(check, args.verbose), check.exitcode


def _on_signal(signum: int, _frame: object) -> NoReturn:
    raise Interrupted(signal.Signals(signum).name)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the plugin; print its output; return the exit code."""
    try:
        return _main(argv)
    except BrokenPipeError:
        # Whoever reads stdout left (`| head -1`): nothing more can be said, and
        # a traceback on stderr would be the only output. Silence the final flush.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return UNKNOWN


def _main(argv: Optional[Sequence[str]]) -> int:
    # -t bounds the whole run as a scheduler sees it: count the heavy imports
    # (pyOpenSSL, cryptography, nagiosplugin, done in run_check) against it too.
    started = time.monotonic()
    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    verbose = 0
    try:
        try:
            args, policy = parse(argv)
        except UsageError as exc:
            sys.stdout.write(status_line("UNKNOWN", f"usage error: {exc}") + "\n")
            sys.stdout.write(build_parser().format_usage())
            return UNKNOWN
        except _Exit:
            return UNKNOWN
        verbose = args.verbose
        if args.explain:
            sys.stdout.write(explain(policy))
            return UNKNOWN
        text, code = run_check(args, policy, started)
        sys.stdout.write(text)
        return code
    except Interrupted as exc:
        sys.stdout.write(
            status_line("UNKNOWN", f"interrupted by {exc} before the check ended") + "\n"
        )
        return UNKNOWN
    except Exception as exc:  # noqa: BLE001 - our own bug: UNKNOWN, never a traceback
        sys.stdout.write(
            status_line("UNKNOWN", f"internal error: {type(exc).__name__}: {exc}") + "\n"
        )
        if verbose >= 3:
            traceback.print_exc(file=sys.stderr)
        return UNKNOWN
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sys.stdout.flush()
