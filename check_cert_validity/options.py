"""The command line's options: ``SECTIONS`` is their one source of truth.

Each ``Option`` says what argparse is told (flags, help, metavar, choices,
the converter). The parser built from it (``build_parser()``) reads every
command line, prints ``--help`` and ``-V`` and words every usage error, and
``tools/gendocs.py`` turns the same parser into the man page, the Icinga
CheckCommand and the README's option table. Adding an option is one entry
here plus the code that uses its value.
"""

# Annotations are evaluated here (no ``from __future__ import annotations``):
# typing.NamedTuple compiles every annotation given as a string when the class
# is made, and every check pays for that at start-up.
import argparse
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, NoReturn

from check_cert_validity import __version__, converters
from check_cert_validity.output import status_line
from check_cert_validity.starttls import PROTOCOLS
from check_cert_validity.states import NAMES

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
STARTTLS_HELP = (
    "speak this protocol's plaintext preamble before TLS; sets the default port: "
    + ", ".join(f"{name} ({proto.port})" for name, proto in PROTOCOLS.items())
    + " (postgres-direct: PostgreSQL 17 direct TLS with ALPN, no preamble)"
)


class UsageError(Exception):
    """The command line is wrong: report it and exit UNKNOWN."""


class HelpOrVersionShown(Exception):
    """``--help``/``--version`` printed their text; exit UNKNOWN."""


class _OptionFields(NamedTuple):
    flags: tuple[str, ...]
    kind: str = "value"
    dest: str = ""
    convert: Callable[[str], object] | None = None
    default: object = None
    const: object = None
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    help: str | None = None
    exclusive: str | None = None


class Option(_OptionFields):
    """One option. ``kind``: value, flag (store_true), const, count or version.

    ``convert`` turns a value's text into the value (``converters``);
    ``const`` is what a const option stores, or the version text;
    ``exclusive`` names a mutually exclusive group within the section;
    ``dest`` defaults to the first long flag, ``-`` written ``_``.
    """

    __slots__ = ()

    def __new__(cls, flags: tuple[str, ...], **settings: Any) -> "Option":
        if not settings.get("dest"):
            longs = [flag for flag in flags if flag.startswith("--")]
            settings["dest"] = (longs[0] if longs else flags[0]).lstrip("-").replace("-", "_")
        return super().__new__(cls, flags, **settings)

    def argparse_kwargs(self) -> dict[str, object]:
        """``add_argument`` keywords for this option."""
        if self.kind == "version":
            return {"action": "version", "version": self.const}
        actions = {"flag": "store_true", "const": "store_const", "count": "count"}
        kwargs: dict[str, object] = {
            "dest": self.dest,
            "action": actions.get(self.kind),
            "type": self.convert,
            "metavar": self.metavar,
            "choices": self.choices,
            "const": self.const if self.kind == "const" else None,
            "default": self.default,
            "help": self.help,
        }
        return {key: value for key, value in kwargs.items() if value is not None}


SECTIONS: tuple[tuple[str | None, tuple[Option, ...]], ...] = (
    (
        None,
        (
            Option(("-V", "--version"), kind="version", const=f"{PROG} {__version__}"),
            Option(
                ("-v", "--verbose"),
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
                ("-H", "--host", "--hostname"),  # the guidelines' reserved long name for -H
                convert=converters.host,
                help="host name, IPv4 or IPv6 address to connect to",
            ),
            Option(
                ("-p", "--port"),
                convert=converters.port,
                help="TCP port (default: 443, or the --starttls protocol's)",
            ),
            Option(
                ("--sni",),
                convert=converters.server_name,
                metavar="NAME",
                help="server name to send (default: the host when it is a DNS name)",
                exclusive="sni",
            ),
            Option(("--no-sni",), kind="flag", help="send no server name", exclusive="sni"),
            Option(
                ("-4", "--ipv4"),
                kind="const",
                dest="family",
                const=4,
                default=0,
                help="connect over IPv4 only",
                exclusive="family",
            ),
            Option(
                ("-6", "--ipv6"),
                kind="const",
                dest="family",
                const=6,
                help="connect over IPv6 only",
                exclusive="family",
            ),
            Option(
                ("-t", "--timeout"),
                convert=converters.seconds,
                default=10.0,
                metavar="SECONDS",
                help="one deadline for resolving, connecting and the handshake "
                "(default: 10, fractions allowed)",
            ),
            Option(
                ("--unreachable-state",),
                choices=NAMES,
                default="critical",
                help="state when the endpoint (or --file) gives no certificate (default: critical)",
            ),
        ),
    ),
    (
        "protocols, addresses and client certificates",
        (
            Option(
                ("-P", "--starttls"),
                choices=tuple(PROTOCOLS),
                metavar="PROTO",
                help=STARTTLS_HELP,
            ),
            Option(
                ("--resolve",),
                convert=converters.host,
                metavar="ADDRESS",
                help="connect to this address instead of resolving -H; -H stays the name "
                "sent as SNI and shown (one node behind a load balancer)",
            ),
            Option(
                ("--client-cert",), metavar="FILE", help="PEM client certificate (chain) to present"
            ),
            Option(
                ("--client-key",),
                metavar="FILE",
                help="PEM private key for --client-cert (default: in the certificate file)",
            ),
        ),
    ),
    (
        "thresholds",
        (
            Option(
                ("--validity",),
                convert=converters.duration,
                metavar="V",
                help="lifetime the rotation system issues "
                "(default: the certificate's own lifetime)",
            ),
            Option(
                ("--rotation",),
                convert=converters.duration,
                metavar="R",
                help="how often a fresh certificate is deployed (default: 2/3 of V)",
            ),
            Option(
                ("-w", "--warning"),
                convert=converters.time_range,
                metavar="RANGE",
                help="Nagios range over time left (days; units allowed, e.g. 8h:), "
                "replaces the computed WARNING bound",
            ),
            Option(
                ("-c", "--critical"),
                convert=converters.time_range,
                metavar="RANGE",
                help="Nagios range over time left (days; units allowed, e.g. 4h:), "
                "replaces the computed CRITICAL bound",
            ),
            Option(
                ("--now",),
                convert=converters.instant,
                metavar="TIME",
                help="judge as of this ISO 8601 instant instead of the clock "
                "(what will this look like next week?)",
            ),
            Option(
                ("--explain",),
                kind="flag",
                help="print the range and alert points V and R give, connect nowhere",
            ),
        ),
    ),
    (
        "chain and certificate files",
        (
            Option(
                ("--chain",),
                kind="flag",
                help="judge every certificate the server presents (or the file holds): "
                "WARNING/CRITICAL apply to the one that expires first, the upper bound "
                "to the leaf only",
            ),
            Option(
                ("--file",),
                metavar="PATH",
                help="check a certificate file instead of an endpoint (PEM, a PEM bundle "
                "leaf first, DER, a PKCS#12 keystore; a private key in it is skipped), or "
                "a CRL file (PEM or DER; every CRL in it judged like a leaf, by "
                "--validity/--rotation). Missing, empty, damaged or no certificate: "
                "CRITICAL (--unreachable-state); unreadable, a directory, a wrong keystore "
                "password or a Java JKS/JCEKS keystore (convert it with keytool): UNKNOWN",
            ),
            Option(
                ("--expect-file",),
                metavar="PATH",
                help="with -H: WARNING when the served certificate is not the one in PATH "
                "(compared byte for byte; any --file format): the service has not reloaded it",
            ),
            Option(
                ("--file-password-file",),
                metavar="PATH",
                help="the PKCS#12 password for --file or --expect-file: the first line of "
                "PATH, as openssl -passin file: reads it (never a password on the command "
                "line). Default: try the empty password",
            ),
        ),
    ),
    (
        "certificate revocation lists",
        (
            Option(
                ("--crl",),
                convert=converters.crl_url,
                metavar="URL",
                help="download the CRL at this http or https URL (within -t; one redirect, "
                "at most 20 MiB) and judge it: alone by --validity/--rotation, or with -H or "
                "--file beside the certificate. Refused, timed out, an HTTP error status or "
                "not a CRL: CRITICAL (--unreachable-state)",
            ),
            Option(
                ("--crl-from-cert",),
                kind="flag",
                help="with -H or --file: also download the CRL the leaf names (the first "
                "http(s) URI of its CRL distribution points, the one its clients fetch) "
                "within what is left of -t, and judge it beside the certificate; a leaf "
                "that names none is said in the line and keeps its own state",
            ),
            Option(
                ("--crl-validity",),
                convert=converters.duration,
                metavar="V",
                help="how long the CA makes each CRL valid, for CRLs judged beside "
                "certificates (--chain with a bundle that holds them, --crl-from-cert, "
                "--crl with -H or --file) "
                "(default: each CRL's own lifetime, nextUpdate - thisUpdate)",
            ),
            Option(
                ("--crl-rotation",),
                convert=converters.duration,
                metavar="R",
                help="how often the CA publishes a CRL, for CRLs judged beside "
                "certificates (default: 2/3 of their V)",
            ),
        ),
    ),
    (
        "metrics (Prometheus, StatsD)",
        (
            Option(
                ("--output",),
                choices=("nagios", "openmetrics"),
                default="nagios",
                help="nagios: the status line (default); openmetrics: Prometheus/"
                "OpenMetrics text exposition of the same judgement instead (the exit "
                "code stays the Nagios state)",
            ),
            Option(
                ("--statsd",),
                convert=converters.statsd_address,
                metavar="HOST:PORT",
                help="also send the gauges as StatsD UDP datagrams (fire-and-forget; "
                "port default 8125)",
            ),
            Option(
                ("--statsd-prefix",),
                default="cert_validity",
                metavar="P",
                help="StatsD name prefix (default: cert_validity)",
            ),
        ),
    ),
)
# "--name" (optionally "=value") or "-x": a password such as "-Xk9..." is not named.
_OPTION_LIKE = re.compile(r"--[A-Za-z0-9][A-Za-z0-9.-]*(=|$)|-[A-Za-z0-9]$")
OPTIONS: tuple[Option, ...] = tuple(option for _, options in SECTIONS for option in options)


class Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so that ``main()`` chooses the exit code.

    Long options must be spelled out (``allow_abbrev=False``): a prefix such
    as ``--file-password SECRET`` is a usage error, never ``--file-password-file``
    reading a file named after a secret. Words it does not know are not
    echoed for the same reason: the one after a mistyped option may be one.
    """

    def __init__(self, **settings: Any) -> None:
        super().__init__(allow_abbrev=False, **settings)

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        parsed, extra = self.parse_known_args(args, namespace)
        if extra:
            self.error(unrecognized(extra))
        return parsed

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            sys.stderr.write(message)
        raise HelpOrVersionShown(status)


def unrecognized(extra: Sequence[str]) -> str:
    """The usage error for words no option takes: what looks like an option by name (up to
    ``=``), the rest only counted (``-`` and a leading dash are no proof of an option)."""
    names = [word.split("=", 1)[0] for word in extra if _OPTION_LIKE.match(word)]
    others = len(extra) - len(names)
    parts = []
    if names:
        parts.append(f"unrecognized option{'s' if len(names) > 1 else ''} {', '.join(names)}")
    if others:
        words = f"{others} unexpected argument{'s' if others > 1 else ''}"
        parts.append(f"{words} (not shown: it may be a secret)")
    return "; ".join(parts)


def build_parser() -> Parser:
    """The parser for ``SECTIONS`` (every command line, help, version, the docs)."""
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
