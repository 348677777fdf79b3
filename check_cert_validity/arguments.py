"""Read a command line into ``Arguments``, without argparse when it is plain.

``parse_args`` first reads ``argv`` straight from the option table
(``options.OPTIONS``): exact flags, ``--long=value``, ``-vvv``, values that
do not start with "-". Anything else (``--help``, ``-V``, abbreviations,
attached short values, a value the converter refuses, a repeated exclusive
option, a stray word) goes to the argparse parser built from the same table,
which accepts it or words the error. Both give the same result for what the
quick reading accepts (tests/test_arguments.py compares them); the quick one
spares an ordinary check importing argparse and gettext and building a
parser, a third of what the plugin adds to its libraries' import time
(issue 7).
"""

from __future__ import annotations

import sys
from types import SimpleNamespace

from check_cert_validity.options import OPTIONS, Option, build_parser

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Optional, Sequence

# The parsed command line: attribute per option ``dest`` (argparse's result is
# converted to the same type, so callers see one kind of object).
Arguments = SimpleNamespace


def parse_args(argv: Optional[Sequence[str]] = None) -> Arguments:
    """Parse ``argv`` (default ``sys.argv[1:]``); raises ``options.UsageError``."""
    given = list(sys.argv[1:] if argv is None else argv)
    quick = read_plain(given)
    if quick is not None:
        return quick
    return Arguments(**vars(build_parser().parse_args(given)))


def read_plain(argv: Sequence[str]) -> Optional[Arguments]:
    """``argv`` read from the table, or None when argparse must decide."""
    by_flag = {flag: option for option in OPTIONS for flag in option.flags}
    values: dict[str, object] = {}
    for each in OPTIONS:
        if each.kind != "version":
            values.setdefault(each.dest, each.default)
    exclusive: dict[str, Option] = {}
    position = 0
    while position < len(argv):
        token = argv[position]
        position += 1
        flag, equals, value = token.partition("=") if token.startswith("--") else (token, "", "")
        inline = value if equals else None
        found = by_flag.get(flag)
        if found is None:
            if len(token) > 2 and token.strip("v") == "-":  # -vv, -vvv
                count = by_flag["-v"].dest
                values[count] += len(token) - 1  # type: ignore[operator]
                continue
            return None
        option = found
        if option.exclusive is not None:
            if exclusive.setdefault(option.exclusive, option) is not option:
                return None
        if option.kind != "value":
            if inline is not None or option.kind == "version":
                return None
            if option.kind == "count":
                values[option.dest] += 1  # type: ignore[operator]
            else:
                values[option.dest] = True if option.kind == "flag" else option.const
            continue
        if inline is None:
            if position == len(argv) or argv[position].startswith("-"):
                return None
            inline = argv[position]
            position += 1
        converted = _converted(option, inline)
        if converted is None:
            return None
        values[option.dest] = converted
    return Arguments(**values)


def _converted(option: Option, text: str) -> object:
    """The option's value, or None when argparse should say what is wrong."""
    try:
        value = option.convert(text) if option.convert else text
    except Exception:  # noqa: BLE001 - argparse runs it again and words the error
        return None
    choices = option.allowed()
    if choices is not None and value not in choices:
        return None
    return value
