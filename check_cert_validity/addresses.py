"""IP literals and ``host:port`` as the command line, the transport and the text see them.

Pure, no sockets.
"""

from __future__ import annotations

import ipaddress


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
