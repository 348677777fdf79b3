"""The quick command-line reader agrees with argparse, and is what a check uses.

``arguments.read_plain`` reads ordinary command lines from the option table
without argparse; everything else falls through to the argparse parser built
from the same table. For every command line below (hand-picked and 600
generated ones, valid and not) the result of ``parse_args`` must be what
argparse alone gives: the same values, or the same usage error.
"""

from __future__ import annotations

import random
from typing import Callable, Union

import pytest

from check_cert_validity.arguments import parse_args, read_plain
from check_cert_validity.options import OPTIONS, HelpOrVersionShown, UsageError, build_parser

Outcome = tuple[str, Union[dict[str, object], str]]

# Values each option accepts, and some it refuses.
GOOD = {
    "--host": ["db.internal", "127.0.0.1", "::1", "[::1]", "bücher.example", "h"],
    "--port": ["443", "5432", "1", "65535"],
    "--sni": ["svc.internal", "x"],
    "--timeout": ["2", "0.5", "3600"],
    "--unreachable-state": ["ok", "warning", "critical", "unknown"],
    "--starttls": ["smtp", "postgres", "postgres-direct", "ldap"],
    "--resolve": ["127.0.0.1", "::1"],
    "--client-cert": ["c.pem", ""],
    "--client-key": ["k.pem"],
    "--validity": ["30d", "90", "36h", "1w"],
    "--rotation": ["10d", "16h"],
    "--warning": ["20:", "@0:5", "8h:", "10"],
    "--critical": ["10:", "4h:"],
    "--now": ["2026-12-24T09:00Z", "2026-12-24 09:00:00+01:00"],
    "--file": ["x.pem", "dir/with space.pem"],
    "--expect-file": ["y.pem"],
    "--output": ["nagios", "openmetrics"],
    "--statsd": ["127.0.0.1:8125", "[::1]:9125", "stats.internal"],
    "--statsd-prefix": ["p", "cert.validity"],
}
BAD = {
    "--host": ["", "a..b"],
    "--port": ["0", "https", "-1"],
    "--timeout": ["0", "-1", "soon"],
    "--unreachable-state": ["bad"],
    "--starttls": ["gopher"],
    "--validity": ["ten", "-1d"],
    "--warning": ["5:1"],
    "--now": ["tomorrow"],
    "--output": ["json"],
    "--statsd": ["h:0"],
}
ODD_TOKENS = ["--time", "5", "-p443", "-H=x", "word", "--", "--chain=1", "-vx", "--bogus", "-"]


def outcome(parse: Callable[[list[str]], object], argv: list[str]) -> Outcome:
    try:
        return "ok", dict(vars(parse(argv)))
    except UsageError as exc:
        return "usage error", str(exc)


def argparse_alone(argv: list[str]) -> object:
    return build_parser().parse_args(argv)


def generated(seed: int) -> list[str]:
    """A command line of random options in random order, mostly valid."""
    rng = random.Random(seed)
    argv: list[str] = []
    for option in rng.sample(OPTIONS, rng.randint(1, 8)):
        if option.kind == "version":
            continue
        flag = rng.choice(option.flags)
        if option.kind != "value":
            argv.append(flag)
            continue
        long = next(f for f in option.flags if f.startswith("--"))
        values = GOOD[long] if rng.random() < 0.9 else BAD.get(long, GOOD[long])
        value = rng.choice(values)
        inline = flag.startswith("--") and rng.random() < 0.3
        argv += [f"{flag}={value}"] if inline else [flag, value]
    if rng.random() < 0.1:
        argv.insert(rng.randint(0, len(argv)), rng.choice(ODD_TOKENS))
    if rng.random() < 0.2:
        argv.insert(rng.randint(0, len(argv)), rng.choice(["-v", "-vv", "-vvv", "--verbose"]))
    return argv


PLAIN = [
    ["-H", "db.internal"],
    ["-H", "127.0.0.1", "-p", "8443", "-t", "5"],
    ["-H", "::1", "-6", "--validity", "30d", "--rotation", "10d", "-vv"],
    ["--host=web.internal", "--port=443", "--unreachable-state=warning", "--chain"],
    ["-H", "mail.internal", "-P", "smtp", "--sni", "mx.internal", "-v", "-v"],
    ["-H", "lb.internal", "--resolve", "10.0.0.7", "--client-cert", "c.pem", "--client-key", "k"],
    ["--file", "/etc/ssl/svc.pem", "--chain", "-w", "20:", "-c", "10:", "--now", "2026-12-24T09Z"],
    ["-H", "svc", "--expect-file", "new.pem", "--output", "openmetrics", "--statsd", "127.0.0.1"],
    ["--explain", "--validity", "90d"],
    # an inline value may start with "-"
    ["-H", "h", "--no-sni", "-4", "--ipv4", "--client-cert=-c.pem"],
]
DEFERRED = [
    ["--help"],
    ["-V"],
    ["-H", "h", "--time", "5"],  # an abbreviation
    ["-H", "h", "-p443"],  # a value attached to a short flag
    ["-H", "h", "-4", "-6"],  # exclusive
    ["-H", "h", "--sni", "x", "--no-sni"],
    ["-H", "h", "--validity", "-1d"],  # a value that looks like an option
    ["-H", "h", "-p"],  # a missing value
    ["-H", "h", "--chain=yes"],
    ["-H", "h", "word"],
    ["-H", "h", "-p", "0"],  # the converter refuses it
    ["-H", "h", "-P", "gopher"],  # not a choice
]


@pytest.mark.parametrize("argv", PLAIN, ids=" ".join)
def test_plain_command_lines_skip_argparse_and_agree_with_it(argv: list[str]) -> None:
    quick = read_plain(argv)
    assert quick is not None, "an ordinary command line must not need argparse"
    assert vars(quick) == vars(argparse_alone(argv))


@pytest.mark.parametrize("argv", DEFERRED, ids=" ".join)
def test_everything_else_is_left_to_argparse(argv: list[str]) -> None:
    assert read_plain(argv) is None
    if argv in (["--help"], ["-V"]):
        with pytest.raises(HelpOrVersionShown):
            parse_args(argv)
    else:
        assert outcome(parse_args, argv) == outcome(argparse_alone, argv)


def test_generated_command_lines_agree_with_argparse() -> None:
    read_quickly = 0
    for seed in range(600):
        argv = generated(seed)
        if read_plain(argv) is not None:
            read_quickly += 1
        assert outcome(parse_args, argv) == outcome(argparse_alone, argv), argv
    # the comparison must cover the quick reader, not only argparse
    assert read_quickly > 300


def test_defaults_match_argparse() -> None:
    assert vars(parse_args(["-H", "h"])) == vars(argparse_alone(["-H", "h"]))
    defaults = vars(parse_args(["-H", "h"]))
    assert defaults["timeout"] == 10.0 and defaults["family"] == 0 and defaults["verbose"] == 0
    assert defaults["unreachable_state"] == "critical" and defaults["chain"] is False
