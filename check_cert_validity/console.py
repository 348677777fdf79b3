"""The console script (and ``python -m``): one check in a process of its own.

Two things happen before anything else is imported. The clock is read: the
``-t`` deadline counts from here, imports included, so that the plugin's own
deadline fires before a scheduler's kill. And the cyclic garbage collector
is switched off for the process: a check lives a fraction of a second and
leaves a few hundred objects in reference cycles, while the collector's
passes over the freshly imported libraries cost about 4% of a check's
instructions (bench/bench.py). Reference counting still frees everything
else at once. ``cli.main()`` called as a library leaves the collector alone.
"""

import gc
import time


def main() -> int:
    """Run one check from ``sys.argv``; return its exit code."""
    started = time.monotonic()
    gc.disable()
    from check_cert_validity.cli import main as check

    return check(started=started)
