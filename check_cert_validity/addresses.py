"""IP literals as the command line and the transport see them (pure, no sockets)."""

from __future__ import annotations

import ipaddress

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Optional


def ip_literal(host: str) -> Optional[str]:
    """The normalised IP address if ``host`` is an IP literal (``[::1]`` too), else None."""
    candidate = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None
