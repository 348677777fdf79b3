"""The command line's options: ``SECTIONS`` is their one source of truth.

Each ``Option`` says what argparse is told (flags, help, metavar, choices,
the converter) and what the plain reader in ``arguments.py`` needs. The
argparse parser built from it (``build_parser()``) prints ``--help`` and
``-V``, words every usage error, and is what ``tools/gendocs.py`` turns into
the man page, the Icinga CheckCommand and the README's option table.

Nothing here imports argparse until a parser is built: an ordinary check
never builds one (start-up time, issue 7).
"""

from __future__ import annotations

import sys

from check_cert_validity import __version__, converters
from check_cert_validity.output import status_line
from check_cert_validity.record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    import argparse
    from typing import Callable, NoReturn, Optional, Union

    Lazy = Union[str, Callable[[], str]]

PROG = "check_cert_validity"
DESCRIPTION = (
    "Check how long the TLS certificate an endpoint serves has left, and "
    "whether that is what a healthy rotation looks like. Watches validity "
    "time only: never judges signatures, trust chains or CAs."
)
EPILOG = (
    "Durations: a number with an optional unit s, m, h, d or w; a bare "
    "number means days (90d, 36h, 1w). A healthy certificate has between "
    "V-R and V left; WARNING below V-R, CRITICAL below (V-R)/2."
)

STATES = {"ok": 0, "warning": 1, "critical": 2, "unknown": 3}


class UsageError(Exception):
    """The command line is wrong: report it and exit UNKNOWN."""


class HelpOrVersionShown(Exception):
    """``--help``/``--version`` printed their text; exit UNKNOWN."""


def _starttls_help() -> str:
    from check_cert_validity.starttls import PROTOCOLS

    return (
        "speak this protocol's plaintext preamble before TLS; sets the default port: "
        + ", ".join(f"{name} ({proto.port})" for name, proto in PROTOCOLS.items())
        + " (postgres-direct: PostgreSQL 17 direct TLS with ALPN, no preamble)"
    )


def _starttls_names() -> tuple[str, ...]:
    from check_cert_validity.starttls import PROTOCOLS

    return tuple(PROTOCOLS)


class Option(Record):
    """One option. ``kind``: value, flag (store_true), const, count or version.

    ``convert`` turns a value's text into the value (``converters``);
    ``const`` is what a const option stores, or the version text.
    ``help`` and ``choices`` may be functions, called only when a parser is
    built or the option is given (the STARTTLS table loads on demand).
    ``exclusive`` names a mutually exclusive group within the section.
    """

    __slots__ = (
        "choices",
        "const",
        "convert",
        "default",
        "dest",
        "exclusive",
        "flags",
        "help",
        "kind",
        "metavar",
    )
    flags: tuple[str, ...]
    kind: str
    dest: str
    convert: Optional[Callable[[str], object]]
    default: object
    const: object
    choices: Union[tuple[str, ...], Callable[[], tuple[str, ...]], None]
    metavar: Optional[str]
    help: Optional[Lazy]
    exclusive: Optional[str]

    def __init__(
        self,
        *flags: str,
        kind: str = "value",
        dest: Optional[str] = None,
        convert: Optional[Callable[[str], object]] = None,
        default: object = None,
        const: object = None,
        choices: Union[tuple[str, ...], Callable[[], tuple[str, ...]], None] = None,
        metavar: Optional[str] = None,
        help: Optional[Lazy] = None,
        exclusive: Optional[str] = None,
    ) -> None:
        longs = [flag for flag in flags if flag.startswith("--")]
        self._set(
            flags=flags,
            kind=kind,
            dest=dest or (longs[0] if longs else flags[0]).lstrip("-").replace("-", "_"),
            convert=convert,
            default=False if kind == "flag" else default,
            const=const,
            choices=choices,
            metavar=metavar,
            help=help,
            exclusive=exclusive,
        )

    def allowed(self) -> Optional[tuple[str, ...]]:
        """The choices, if the option has any."""
        return self.choices() if callable(self.choices) else self.choices

    def argparse_kwargs(self) -> dict[str, object]:
        """``add_argument`` keywords for this option."""
        if self.kind == "version":
            return {"action": "version", "version": self.const}
        kwargs: dict[str, object] = {"dest": self.dest}
        if self.kind == "value":
            kwargs.update(type=self.convert, metavar=self.metavar, choices=self.allowed())
        else:
            kwargs["action"] = {"flag": "store_true", "const": "store_const", "count": "count"}[
                self.kind
            ]
        if self.kind == "const":
            kwargs["const"] = self.const
        if self.default is not None and self.default is not False:
            kwargs["default"] = self.default
        kwargs["help"] = self.help() if callable(self.help) else self.help
        return {key: value for key, value in kwargs.items() if value is not None}


SECTIONS: tuple[tuple[Optional[str], tuple[Option, ...]], ...] = (
    (
        None,
        (
            Option("-V", "--version", kind="version", const=f"{PROG} {__version__}"),
            Option(
                "-v",
                "--verbose",
                kind="count",
                default=0,
                help="more output: -v certificate details, -vv timings, "
                "-vvv tracebacks of internal errors on stderr",
            ),
        ),
    ),
    (
        "endpoint",
        (
            Option(
                "-H",
                "--host",
                "--hostname",  # the guidelines' reserved long name for -H
                convert=converters.host,
                help="host name, IPv4 or IPv6 address to connect to",
            ),
            Option(
                "-p",
                "--port",
                convert=converters.port,
                help="TCP port (default: 443, or the --starttls protocol's)",
            ),
            Option(
                "--sni",
                convert=converters.server_name,
                metavar="NAME",
                help="server name to send (default: the host when it is a DNS name)",
                exclusive="sni",
            ),
            Option("--no-sni", kind="flag", help="send no server name", exclusive="sni"),
            Option(
                "-4",
                "--ipv4",
                kind="const",
                dest="family",
                const=4,
                default=0,
                help="connect over IPv4 only",
                exclusive="family",
            ),
            Option(
                "-6",
                "--ipv6",
                kind="const",
                dest="family",
                const=6,
                help="connect over IPv6 only",
                exclusive="family",
            ),
            Option(
                "-t",
                "--timeout",
                convert=converters.seconds,
                default=10.0,
                metavar="SECONDS",
                help="one deadline for resolving, connecting and the handshake "
                "(default: 10, fractions allowed)",
            ),
            Option(
                "--unreachable-state",
                choices=tuple(STATES),
                default="critical",
                help="state when the endpoint (or --file) gives no certificate (default: critical)",
            ),
        ),
    ),
    (
        "protocols, addresses and client certificates",
        (
            Option(
                "-P",
                "--starttls",
                choices=_starttls_names,
                metavar="PROTO",
                help=_starttls_help,
            ),
            Option(
                "--resolve",
                convert=converters.host,
                metavar="ADDRESS",
                help="connect to this address instead of resolving -H; -H stays the name "
                "sent as SNI and shown (one node behind a load balancer)",
            ),
            Option(
                "--client-cert", metavar="FILE", help="PEM client certificate (chain) to present"
            ),
            Option(
                "--client-key",
                metavar="FILE",
                help="PEM private key for --client-cert (default: in the certificate file)",
            ),
        ),
    ),
    (
        "thresholds",
        (
            Option(
                "--validity",
                convert=converters.duration,
                metavar="V",
                help="lifetime the rotation system issues "
                "(default: the certificate's own lifetime)",
            ),
            Option(
                "--rotation",
                convert=converters.duration,
                metavar="R",
                help="how often a fresh certificate is deployed (default: 2/3 of V)",
            ),
            Option(
                "-w",
                "--warning",
                convert=converters.time_range,
                metavar="RANGE",
                help="Nagios range over time left (days; units allowed, e.g. 8h:), "
                "replaces the computed WARNING bound",
            ),
            Option(
                "-c",
                "--critical",
                convert=converters.time_range,
                metavar="RANGE",
                help="Nagios range over time left (days; units allowed, e.g. 4h:), "
                "replaces the computed CRITICAL bound",
            ),
            Option(
                "--now",
                convert=converters.instant,
                metavar="TIME",
                help="judge as of this ISO 8601 instant instead of the clock "
                "(what will this look like next week?)",
            ),
            Option(
                "--explain",
                kind="flag",
                help="print the range and alert points V and R give, connect nowhere",
            ),
        ),
    ),
    (
        "chain and certificate files",
        (
            Option(
                "--chain",
                kind="flag",
                help="judge every certificate the server presents (or the file holds): "
                "WARNING/CRITICAL apply to the one that expires first, the upper bound "
                "to the leaf only",
            ),
            Option(
                "--file",
                metavar="PATH",
                help="check a certificate file instead of an endpoint (PEM, a PEM bundle "
                "leaf first, DER; a private key in it is skipped). Missing, empty or no "
                "certificate: CRITICAL (--unreachable-state); unreadable or a directory: "
                "UNKNOWN",
            ),
            Option(
                "--expect-file",
                metavar="PATH",
                help="with -H: WARNING when the served certificate is not the one in PATH "
                "(compared byte for byte): the service has not reloaded it",
            ),
        ),
    ),
    (
        "metrics (Prometheus, StatsD)",
        (
            Option(
                "--output",
                choices=("nagios", "openmetrics"),
                default="nagios",
                help="nagios: the status line (default); openmetrics: Prometheus/"
                "OpenMetrics text exposition of the same judgement instead (the exit "
                "code stays the Nagios state)",
            ),
            Option(
                "--statsd",
                convert=converters.statsd_address,
                metavar="HOST:PORT",
                help="also send the gauges as StatsD UDP datagrams (fire-and-forget; "
                "port default 8125)",
            ),
            Option(
                "--statsd-prefix",
                default="cert_validity",
                metavar="P",
                help="StatsD name prefix (default: cert_validity)",
            ),
        ),
    ),
)
OPTIONS: tuple[Option, ...] = tuple(option for _, options in SECTIONS for option in options)


def build_parser() -> argparse.ArgumentParser:
    """An argparse parser for ``SECTIONS`` (help, version, usage errors, the docs)."""
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message: str) -> NoReturn:
            raise UsageError(message)

        def exit(self, status: int = 0, message: Optional[str] = None) -> NoReturn:
            if message:
                sys.stderr.write(message)
            raise HelpOrVersionShown(status)

    parser = Parser(prog=PROG, description=DESCRIPTION, epilog=EPILOG)
    for title, options in SECTIONS:
        group = parser if title is None else parser.add_argument_group(title)
        exclusive: dict[str, argparse._MutuallyExclusiveGroup] = {}
        for option in options:
            target = group
            if option.exclusive is not None:
                if option.exclusive not in exclusive:
                    exclusive[option.exclusive] = group.add_mutually_exclusive_group()
                target = exclusive[option.exclusive]
            target.add_argument(*option.flags, **option.argparse_kwargs())  # type: ignore[arg-type]
    return parser


def usage_text(message: str) -> str:
    """The UNKNOWN status line for a usage error, then the usage."""
    return status_line("UNKNOWN", f"usage error: {message}") + "\n" + build_parser().format_usage()
