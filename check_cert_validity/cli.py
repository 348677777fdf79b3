"""Command line entry: ``main(argv=None)`` parses, cross-checks and runs a check.

The options themselves live in ``options.py`` (``build_parser()``, re-exported
here), reading them in ``arguments.py``; running a check lives in ``runner.py``.

Exit codes follow the Monitoring Plugins guidelines: 0 OK, 1 WARNING,
2 CRITICAL, 3 UNKNOWN (also for usage errors, ``--help`` and ``--version``).
Heavy imports (pyOpenSSL, cryptography, nagiosplugin) happen only on the
paths that need them.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import time

from check_cert_validity.arguments import Arguments, parse_args
from check_cert_validity.options import HelpOrVersionShown, UsageError, build_parser, usage_text
from check_cert_validity.output import status_line

# typing.TYPE_CHECKING without importing typing: a check imports no argparse,
# --help, -V and --explain nothing beyond it and our small pure modules (issue 7).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn, Optional, Sequence

    from check_cert_validity.thresholds import Policy

# When the plugin started (the console script imports this module first):
# the -t deadline counts from here, imports included.
STARTED = time.monotonic()
UNKNOWN = 3


class Interrupted(Exception):
    """A signal (SIGTERM from a scheduler, SIGINT) asked us to stop."""


def parse(argv: Optional[Sequence[str]]) -> tuple[Arguments, Policy]:
    """Parse and cross-check the command line; raises UsageError."""
    try:
        args = parse_args(argv)
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


def _on_signal(signum: int, _frame: object) -> NoReturn:
    raise Interrupted(signal.Signals(signum).name)


def console_main() -> int:
    """The console script (and ``python -m``): one check in a process of its own.

    A check lives a fraction of a second and leaves a few hundred objects in
    reference cycles, so the cyclic garbage collector is switched off for the
    process: its passes over the freshly imported libraries cost about 4% of
    a check's instructions (bench/bench.py; issue 7). Refcounting still frees
    everything else at once. ``main()`` alone leaves the collector alone.
    """
    gc.disable()
    return main()


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
            sys.stdout.write(usage_text(str(exc)))
            return UNKNOWN
        except HelpOrVersionShown:
            return UNKNOWN
        verbose = args.verbose
        if args.explain:
            sys.stdout.write(explain(policy))
            return UNKNOWN
        from check_cert_validity import runner

        run = runner.run_file_check if args.file else runner.run_check
        text, code = run(args, policy)
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


__all__ = ["build_parser", "console_main", "main", "parse"]
