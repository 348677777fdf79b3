"""Key-exchange groups for the exporter's probes: classical ones first, OpenSSL's own on refusal.

Since 3.5, OpenSSL's client offers the post-quantum hybrid X25519MLKEM768
beside X25519, and making its ML-KEM key share costs about 0.7M instructions
(~45 µs) of every probe, for servers that mostly never use it. The exporter's
module contexts offer only the classical groups, in the order OpenSSL 3.0-3.4
used by default, with a key share for X25519 alone.

The hybrid group is left out of the list entirely, not put after the classical
ones: an OpenSSL 3.5 server prefers it whenever a client lists it and would
answer a ClientHello without its share with a HelloRetryRequest, a round trip
per probe. Without it listed, that server's default preference falls through
to its next tuple (X25519, secp256r1), for which the share was sent.

A server that accepts only hybrid groups refuses such a ClientHello (an alert,
or a close, before any ServerHello). The probe then tries once more with
OpenSSL's defaults, and ``Remembered`` keeps that endpoint on them from then
on, so it costs one extra connection per endpoint, not per probe. The
plugin itself keeps OpenSSL's defaults: it makes one handshake per run.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

# OpenSSL 3.0-3.4's default list, the names every OpenSSL 3 and 4 knows
CLASSICAL = b"X25519:P-256:X448:P-521:P-384:ffdhe2048:ffdhe3072:ffdhe4096:ffdhe6144:ffdhe8192"
KEPT = 4096  # endpoints remembered as needing OpenSSL's default groups


def restrict(context: Any) -> bool:
    """Offer only ``CLASSICAL`` on ``context`` (an ``SSL.Context``); False where it cannot.

    pyOpenSSL has no call for it; cryptography's bindings have had
    ``SSL_CTX_set1_curves_list`` (the groups list, under its old name) for
    long, and where they do not, OpenSSL's own list stays.
    """
    from OpenSSL._util import lib

    setter = getattr(lib, "SSL_CTX_set1_curves_list", None)
    if setter is None:
        return False
    return bool(setter(context._context, CLASSICAL))


class Remembered:
    """Endpoints (``host:port`` and SNI) that refused the classical groups' ClientHello."""

    def __init__(self, kept: int = KEPT) -> None:
        self._kept = kept
        self._endpoints: OrderedDict[tuple[str, str | None], None] = OrderedDict()

    def __contains__(self, endpoint: tuple[str, str | None]) -> bool:
        return endpoint in self._endpoints

    def add(self, endpoint: tuple[str, str | None]) -> None:
        """Keep ``endpoint`` on OpenSSL's defaults (the oldest is forgotten past ``kept``)."""
        self._endpoints[endpoint] = None
        self._endpoints.move_to_end(endpoint)
        while len(self._endpoints) > self._kept:
            self._endpoints.popitem(last=False)

    def __len__(self) -> int:
        return len(self._endpoints)
