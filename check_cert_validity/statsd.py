"""Gauges as StatsD datagrams (``name:value|g``), packed for UDP.

Names are ``<prefix>.<host>.<port>[.<sni>][.chain<N>].<key>``, e.g.
``cert_validity.db1_internal.5433.time_left_seconds``: the SNI only when it
differs from the host, ``chain<N>`` only for certificates behind the leaf.
Every part is reduced to ``[A-Za-z0-9_-]`` (anything else becomes ``_``), so
no name can carry StatsD's separators (``:``, ``|``, ``@``, ``#``, newline).
Certificate text (CN, serial) never goes into a name.

A StatsD gauge value with a sign is a change, not a value (``x:-5|g``
lowers x by 5), so a negative value (an expired certificate's time left) is
sent as ``x:0|g`` then ``x:-5|g``, in the same datagram to keep the order.
Reference: https://github.com/statsd/statsd/blob/master/docs/metric_types.md
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from check_cert_validity.gauges import Sample
from check_cert_validity.openmetrics import format_value

DEFAULT_PREFIX = "cert_validity"
DEFAULT_PORT = 8125
# Fits one Ethernet frame with IP and UDP headers, the size StatsD's docs suggest for LANs.
MAX_DATAGRAM = 1432

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def name_part(text: str) -> str:
    """One dot-free, separator-free part of a metric name."""
    return _UNSAFE.sub("_", text)


def metric_name(sample: Sample, prefix: str = DEFAULT_PREFIX) -> str:
    """The StatsD name for a sample (see the module docstring)."""
    host, sni = sample.label("host"), sample.label("sni")
    parts = [name_part(p) for p in prefix.split(".") if p]
    parts += [name_part(host), name_part(sample.label("port"))]
    if sni and sni != host:
        parts.append(name_part(sni))
    position = sample.label("position")
    if position not in ("", "0"):
        parts.append("chain" + name_part(position))
    parts.append(sample.gauge.key)
    return ".".join(parts)


def gauge_lines(sample: Sample, prefix: str = DEFAULT_PREFIX) -> list[str]:
    """The lines that set one gauge (two for a negative value; none if not finite)."""
    if not math.isfinite(sample.value):
        return []
    name = metric_name(sample, prefix)
    value = format_value(sample.value)
    if sample.value < 0:
        return [f"{name}:0|g", f"{name}:{value}|g"]
    return [f"{name}:{value}|g"]


def datagrams(
    samples: Sequence[Sample], prefix: str = DEFAULT_PREFIX, limit: int = MAX_DATAGRAM
) -> list[bytes]:
    """Newline-separated gauge lines, packed into datagrams of at most ``limit`` bytes.

    The lines of one gauge are never split across datagrams. A single gauge
    longer than ``limit`` (only with an absurd prefix or host) goes alone.
    """
    packets: list[bytes] = []
    current = b""
    for sample in samples:
        chunk = "\n".join(gauge_lines(sample, prefix)).encode("ascii")
        if not chunk:
            continue
        if current and len(current) + 1 + len(chunk) > limit:
            packets.append(current)
            current = b""
        current = current + b"\n" + chunk if current else chunk
    if current:
        packets.append(current)
    return packets


def parse_address(text: str) -> tuple[str, int]:
    """``HOST[:PORT]``, ``[v6]:PORT`` or a bare IPv6 address; raises ValueError."""
    spec = text.strip()
    if spec.startswith("["):
        host, sep, rest = spec[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"invalid address {text!r}: use HOST:PORT or [IPv6]:PORT")
        port_text = rest[1:] if rest else ""
    elif spec.count(":") == 1:
        host, port_text = spec.split(":")
    else:  # a name, an IPv4 address, or a bare IPv6 address
        host, port_text = spec, ""
    if not host:
        raise ValueError(f"invalid address {text!r}: the host is empty")
    if not port_text:
        return host, DEFAULT_PORT
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"invalid address {text!r}: the port must be 1 to 65535")
    return host, int(port_text)
