"""Command line entry: ``main(argv=None)`` parses, cross-checks and runs a check.

The options live in ``options.py`` (``build_parser()``, re-exported here);
running a check lives in ``runner.py``.

Exit codes follow the Monitoring Plugins guidelines: 0 OK, 1 WARNING,
2 CRITICAL, 3 UNKNOWN (also for usage errors, ``--help`` and ``--version``).
Heavy imports (pyOpenSSL, cryptography, nagiosplugin) happen only on the
paths that need them.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

from check_cert_validity.durations import format_duration
from check_cert_validity.options import HelpOrVersionShown, UsageError, build_parser, usage_text
from check_cert_validity.output import status_line
from check_cert_validity.states import State
from check_cert_validity.thresholds import Policy, ThresholdError

if TYPE_CHECKING:
    from argparse import Namespace


class Interrupted(Exception):
    """A signal (SIGTERM from a scheduler, SIGINT) asked us to stop."""


def parse(argv: Sequence[str] | None, started: float | None = None) -> tuple[Namespace, Policy]:
    """Parse and cross-check the command line; raises UsageError.

    ``started`` (``time.monotonic()``) is when the plugin started, which the
    ``-t`` deadline counts from; by default, now.
    """
    given = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(given)
    except UsageError as exc:
        # -4/-6 exist, so argparse reads "-1d" as an option, not a value, and
        # says only "expected one argument": name the real cause.
        if str(exc).endswith("expected one argument") and any(
            len(a) > 1 and a[0] == "-" and (a[1].isdigit() or a[1] == ".") for a in given
        ):
            raise UsageError(f"{exc} (negative values are not allowed)") from None
        raise
    args.started = time.monotonic() if started is None else started
    unreachable = State.named(args.unreachable_state)
    try:
        policy = Policy(
            args.validity,
            args.rotation,
            args.warning,
            args.critical,
            whole_chain=args.chain,
            unreachable=unreachable,
            crl=_crl_policy(args, unreachable),
        )
    except ThresholdError as exc:
        raise UsageError(str(exc)) from None
    _cross_check(args)
    return args, policy


def _crl_policy(args: Namespace, unreachable: State) -> Policy | None:
    """The policy for CRLs beside certificates, when --crl-validity/--crl-rotation say one."""
    validity, rotation = args.crl_validity, args.crl_rotation
    if validity is None and rotation is None:
        return None
    if validity is not None and rotation is not None and rotation >= validity:
        raise UsageError(
            f"--crl-rotation {format_duration(rotation)} must be shorter than "
            f"--crl-validity {format_duration(validity)}"
        )
    return Policy(validity, rotation, unreachable=unreachable)


def _cross_check(args: Namespace) -> None:
    """Combinations argparse cannot express."""
    if args.file and args.host:
        raise UsageError("--file checks a file, -H an endpoint: give one of them")
    crl_alone = bool(args.crl) and not args.host and not args.file
    if args.file or crl_alone:
        endpoint_only = {
            "-p/--port": crl_alone and args.port,
            "--starttls": args.starttls,
            "--resolve": args.resolve,
            "--client-cert": args.client_cert,
            "--sni": args.sni,
            "--no-sni": args.no_sni,
        }
        given = [flag for flag, value in endpoint_only.items() if value]
        if given:
            checked = "--file" if args.file else "a CRL by URL (--crl without -H)"
            raise UsageError(f"{', '.join(given)} only apply to an endpoint (-H), not to {checked}")
    if args.file_password_file and not (args.file or args.expect_file):
        raise UsageError("--file-password-file needs --file or --expect-file (the keystore)")
    if args.expect_file and not args.host:
        raise UsageError("--expect-file needs -H/--host (the service that should serve it)")
    if args.crl_from_cert and not args.host and not args.file:
        raise UsageError("--crl-from-cert needs -H/--host or --file (the certificate naming it)")
    if not args.explain and not args.host and not args.file and not args.crl:
        raise UsageError("-H/--host is required (or --file PATH)")
    if args.explain and args.validity is None:
        raise UsageError("--explain needs --validity (and optionally --rotation)")
    if args.client_key and not args.client_cert:
        raise UsageError("--client-key needs --client-cert")


def explain(policy: Policy) -> str:
    """The --explain text."""
    assert policy.validity is not None
    return "\n".join(policy.bounds(policy.validity).explain()) + "\n"


def _on_signal(signum: int, _frame: object) -> NoReturn:
    raise Interrupted(signal.Signals(signum).name)


def main(argv: Sequence[str] | None = None, started: float | None = None) -> int:
    """Run the plugin on ``argv`` (default ``sys.argv[1:]``), print its output, return its code."""
    try:
        return _main(argv, started)
    except BrokenPipeError:
        # Whoever reads stdout left (`| head -1`): nothing more can be said, and
        # a traceback on stderr would be the only output. Silence the final flush.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return State.UNKNOWN


def _main(argv: Sequence[str] | None, started: float | None) -> int:
    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    verbose = 0
    try:
        try:
            args, policy = parse(argv, started)
        except UsageError as exc:
            sys.stdout.write(usage_text(str(exc)))
            return State.UNKNOWN
        except HelpOrVersionShown:
            return State.UNKNOWN
        verbose = args.verbose
        if args.explain:
            sys.stdout.write(explain(policy))
            return State.UNKNOWN
        from check_cert_validity import runner

        text, code = runner.run(args, policy)
        sys.stdout.write(text)
        return code
    except Interrupted as exc:
        sys.stdout.write(
            status_line("UNKNOWN", f"interrupted by {exc} before the check ended") + "\n"
        )
        return State.UNKNOWN
    except Exception as exc:  # noqa: BLE001 - our own bug: UNKNOWN, never a traceback
        sys.stdout.write(
            status_line("UNKNOWN", f"internal error: {type(exc).__name__}: {exc}") + "\n"
        )
        if verbose >= 3:
            import traceback

            traceback.print_exc(file=sys.stderr)
        return State.UNKNOWN
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sys.stdout.flush()


__all__ = ["build_parser", "main", "parse"]
