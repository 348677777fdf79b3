"""A scrape's ``target`` (``HOST[:PORT]``, ``[v6]:PORT``) and ``allowed_targets``.

Hosts are read by the plugin's own ``-H`` converter, ports by ``-p``'s, so a
target means what the same ``-H``/``-p`` mean to the plugin. ``allowed_targets``
holds IP networks and host-name patterns (``*.internal``), each with an
optional ``:port``. A name pattern permits a name as given; a network permits
an address, and is checked against the addresses a name resolves to, so a
name that merely looks permitted but resolves elsewhere is refused.

Entries that start with ``/`` are path patterns for the ``file`` prober
(``/etc/ssl/**``-style globs, ``*`` crossing ``/``): a file is read only when
one permits both the path as given and the path it really is (symlinks
resolved), so a link out of a permitted directory is refused. Without a path
pattern no file is read at all: an HTTP client must never choose what the
exporter opens.
"""

from __future__ import annotations

import argparse
import fnmatch
import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass

from check_cert_validity import converters
from check_cert_validity.addresses import ip_literal

# Far longer than any DNS name with a port; longer targets are refused unread.
MAX_TARGET = 300

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TargetError(ValueError):
    """A target that cannot be probed as written (the scraper's mistake)."""


def _split(text: str) -> tuple[str, str]:
    """``host`` and ``port`` text (``""`` when absent); brackets for IPv6."""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise TargetError(f"invalid target {text!r}: use HOST:PORT or [IPv6]:PORT")
        return host, rest[1:]
    if text.count(":") == 1:
        host, port = text.split(":")
        if not port:
            raise TargetError(f"invalid target {text!r}: the port is empty")
        return host, port
    return text, ""  # a name, an IPv4 address or a bare IPv6 address


def parse_target(text: str) -> tuple[str, int | None]:
    """The host (IPv6 without brackets) and the port (None: the module's default)."""
    if not text:
        raise TargetError("missing target: give ?target=HOST[:PORT]")
    if len(text) > MAX_TARGET:
        raise TargetError(f"target too long ({len(text)} characters, at most {MAX_TARGET})")
    host_text, port_text = _split(text)
    try:
        host = converters.host(host_text)
        port = converters.port(port_text) if port_text else None
    except argparse.ArgumentTypeError as exc:
        raise TargetError(f"invalid target: {exc}") from None
    return host, port


@dataclass(frozen=True, slots=True)
class Rule:
    """One ``allowed_targets`` entry: a network or a name pattern, maybe a port."""

    network: Network | None
    pattern: str | None
    port: int | None
    path: str | None = None

    @classmethod
    def parse(cls, text: str) -> Rule:
        """``127.0.0.0/8``, ``::1``, ``[fd00::/8]:443``, ``*.internal``, ``db1:5432``,
        ``/etc/ssl/*.pem``."""
        spec = text.strip()
        if spec.startswith("/"):
            return cls(None, None, None, os.path.normpath(spec))
        if spec.startswith("["):
            body, sep, rest = spec[1:].partition("]")
            if not sep or (rest and not rest.startswith(":")):
                raise ValueError(f"{text!r}: use [IPv6 network]:PORT")
            port_text = rest[1:]
        elif spec.count(":") == 1:
            body, port_text = spec.split(":")
        else:
            body, port_text = spec, ""
        port = None
        if port_text:
            if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
                raise ValueError(f"{text!r}: the port must be 1 to 65535")
            port = int(port_text)
        if not body:
            raise ValueError(f"{text!r}: empty")
        try:
            return cls(ipaddress.ip_network(body, strict=False), None, port)
        except ValueError:
            pass
        if any(char in body for char in "/ "):
            raise ValueError(f"{text!r}: neither an IP network nor a host-name pattern")
        return cls(None, body.lower().rstrip("."), port)

    def permits_port(self, port: int) -> bool:
        """True when the rule names no port, or this one."""
        return self.port is None or self.port == port


@dataclass(frozen=True, slots=True)
class Allowed:
    """The whole ``allowed_targets`` list."""

    rules: tuple[Rule, ...]

    @classmethod
    def parse(cls, entries: Iterable[str]) -> Allowed:
        """Parse every entry; raises ValueError naming the bad one."""
        return cls(tuple(Rule.parse(entry) for entry in entries))

    def permits_name(self, host: str, port: int) -> bool:
        """True when a name pattern permits ``host`` as given (IP literals: never)."""
        if ip_literal(host) is not None:
            return False
        name = host.lower().rstrip(".")
        return any(
            rule.pattern is not None
            and rule.permits_port(port)
            and fnmatch.fnmatchcase(name, rule.pattern)
            for rule in self.rules
        )

    def permits_path(self, path: str) -> bool:
        """True when a path pattern permits ``path`` as given and as it really is."""
        given, real = os.path.normpath(path), os.path.realpath(path)
        patterns = [rule.path for rule in self.rules if rule.path is not None]
        return all(
            any(fnmatch.fnmatchcase(p, pattern) for pattern in patterns) for p in (given, real)
        )

    def permits_address(self, address: str, port: int) -> bool:
        """True when a network holds ``address`` (an IP, as resolution gives it)."""
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1 to the network
        return any(
            rule.network is not None
            and rule.permits_port(port)
            and ip.version == rule.network.version
            and ip in rule.network
            for rule in self.rules
        )
