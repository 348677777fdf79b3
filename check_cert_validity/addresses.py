"""IP literals and ``host:port`` as the command line, the transport and the text see them.

Pure, no sockets.
"""

from __future__ import annotations

import functools
import ipaddress


# pure, and asked for the same few hosts again and again (the exporter: twice a probe);
# ipaddress's parser is slow enough to show in a probe's cost
@functools.lru_cache(maxsize=4096)
def ip_literal(host: str) -> str | None:
    """The normalised IP address if ``host`` is an IP literal (``[::1]`` too), else None."""
    candidate = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


def host_port(host: str, port: int) -> str:
    """``host:port``, an IPv6 address in brackets (``[::1]:443``)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
