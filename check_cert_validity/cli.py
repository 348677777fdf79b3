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

from check_cert_validity import __version__
from check_cert_validity.durations import DurationError, parse_duration
from check_cert_validity.output import status_line

# typing.TYPE_CHECKING without importing typing: --help, -V and --explain import
# nothing beyond argparse and our small pure modules (start-up time, issue 7).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from datetime import datetime
    from typing import Any, Callable, NoReturn, Optional, Sequence

    from check_cert_validity.thresholds import Policy, TimeRange
    from check_cert_validity.udp import Sender

# When the plugin started (the console script imports this module first):
# the -t deadline counts from here, imports included.
STARTED = time.monotonic()
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
        help="state when the endpoint gives no certificate (default: critical)",
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
    args.started = STARTED if argv is None else time.monotonic()
    from check_cert_validity.thresholds import Policy, ThresholdError

    try:
        policy = Policy(args.validity, args.rotation, args.warning, args.critical)
    except ThresholdError as exc:
        raise UsageError(str(exc)) from None
    if args.file and args.host:
        raise UsageError("--file checks a file, -H an endpoint: give one of them")
    if args.file:
        given = [
            flag
            for flag, value in (
                ("--starttls", args.starttls),
                ("--resolve", args.resolve),
                ("--client-cert", args.client_cert),
                ("--sni", args.sni),
                ("--no-sni", args.no_sni),
            )
            if value
        ]
        if given:
            raise UsageError(f"{', '.join(given)} only apply to an endpoint (-H), not to --file")
    if args.expect_file and not args.host:
        raise UsageError("--expect-file needs -H/--host (the service that should serve it)")
    if not args.explain and not args.host and not args.file:
        raise UsageError("-H/--host is required (or --file PATH)")
    if args.explain and args.validity is None:
        raise UsageError("--explain needs --validity (and optionally --rotation)")
    if args.client_key and not args.client_cert:
        raise UsageError("--client-key needs --client-cert")
    return args, policy


def explain(policy: Policy) -> str:
    """The --explain text."""
    from check_cert_validity.thresholds import Bounds

    assert policy.validity is not None
    return "\n".join(Bounds.derive(policy, policy.validity).explain()) + "\n"


def run_check(args: argparse.Namespace, policy: Policy) -> tuple[str, int]:
    """Fetch, judge and render one endpoint's certificate (``-t`` counts from plugin start)."""
    import nagiosplugin

    from check_cert_validity import connection, plugin
    from check_cert_validity.output import render

    try:
        endpoint, acquire = connection.plan(args)
    except connection.PlanError as exc:
        return _usage_text(str(exc)), UNKNOWN
    now = args.now or _utcnow()
    resource = plugin.ServedCertificate(
        acquire,
        endpoint.label,
        whole_chain=args.chain,
        expect=_expected_file(args.expect_file),
    )
    validity = plugin.ValidityContext(policy, now, endpoint.label)
    sender = _sender(args)
    check = nagiosplugin.Check(
        resource,
        validity,
        plugin.EndpointContext(STATES[args.unreachable_state], endpoint.label),
        plugin.CertSummary(args.verbose, now),
        *_disk_contexts(args, policy, now, endpoint.label),
        name="CERT_VALIDITY",
    )
    check()
    text = render(check, args.verbose)
    if sender is not None or args.output == "openmetrics":
        text = publish(args, sender, check, (args.host, endpoint.port, endpoint.sni), now) or text
    return text, check.exitcode


def publish(
    args: argparse.Namespace,
    sender: Optional[Sender],
    check: Any,
    where: tuple[str, int, Optional[str]],
    now: datetime,
) -> str:
    """Send the StatsD gauges; return the exposition text for --output openmetrics, else ""."""
    from check_cert_validity import gauges, openmetrics, plugin, statsd

    certs = tuple(
        gauges.CertReading(position, facts, bounds)
        for position, facts, bounds in plugin.judged_certificates(check)
    )
    samples = gauges.samples(gauges.Reading(*where, check.exitcode, now, certs))
    if sender is not None:
        note = sender.send(statsd.datagrams(samples, args.statsd_prefix))
        if args.verbose >= 3:
            sys.stderr.write(note + "\n")
    return openmetrics.render(samples) if args.output == "openmetrics" else ""


def _expected_file(path: Optional[str]) -> Optional[Callable[..., Any]]:
    if path is None:
        return None
    from check_cert_validity import plugin_disk

    return plugin_disk.ExpectedFile.at(path)


def _disk_contexts(
    args: argparse.Namespace, policy: Policy, now: datetime, label: str
) -> list[Any]:
    if args.expect_file:
        from check_cert_validity import plugin_disk

        return plugin_disk.contexts(policy, now, label, STATES[args.unreachable_state])
    if args.chain:
        from check_cert_validity import plugin

        return [plugin.ChainContext(policy, now, label)]
    return []  # the plain leaf check loads none of the chain/file/uptake glue


def run_file_check(args: argparse.Namespace, policy: Policy) -> tuple[str, int]:
    """Judge a certificate file (--file); never imports OpenSSL.SSL."""
    from check_cert_validity import plugin_disk
    from check_cert_validity.output import render

    now = args.now or _utcnow()
    check = plugin_disk.file_check(
        args.file, args.chain, policy, now, args.verbose, STATES[args.unreachable_state]
    )
    sender = _sender(args)
    check()
    text = render(check, args.verbose)
    if sender is not None or args.output == "openmetrics":
        text = publish(args, sender, check, (args.file, 0, None), now) or text
    return text, check.exitcode


def _sender(args: argparse.Namespace) -> Optional[Sender]:
    if not args.statsd:
        return None
    from check_cert_validity import udp

    return udp.Sender(*args.statsd)  # resolves while the check runs


def _usage_text(message: str) -> str:
    return status_line("UNKNOWN", f"usage error: {message}") + "\n" + build_parser().format_usage()


def _utcnow() -> datetime:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)


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
    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    verbose = 0
    try:
        try:
            args, policy = parse(argv)
        except UsageError as exc:
            sys.stdout.write(_usage_text(str(exc)))
            return UNKNOWN
        except _Exit:
            return UNKNOWN
        verbose = args.verbose
        if args.explain:
            sys.stdout.write(explain(policy))
            return UNKNOWN
        text, code = run_file_check(args, policy) if args.file else run_check(args, policy)
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
            import traceback

            traceback.print_exc(file=sys.stderr)
        return UNKNOWN
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sys.stdout.flush()
