"""From the parsed command line to an endpoint and a way to fetch its certificate.

Applies the defaults that depend on other options: the port follows
``--starttls``, SNI follows ``-H`` unless it is an IP literal (``--resolve``
never changes it), the client identity is read from its files once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from check_cert_validity import transport
from check_cert_validity.addresses import ip_literal

if TYPE_CHECKING:
    from check_cert_validity.arguments import Arguments
    from check_cert_validity.starttls import Protocol

DEFAULT_PORT = 443


class PlanError(Exception):
    """The options cannot be turned into a connection (a usage error)."""


def plan(args: Arguments) -> tuple[transport.Endpoint, Callable[[], transport.Fetched]]:
    """The endpoint to check, and a callable that fetches its certificate."""
    protocol: Protocol | None = None
    preamble: transport.Preamble | None = None
    if args.starttls:  # the STARTTLS table loads only when asked for
        from check_cert_validity import starttls

        protocol = starttls.PROTOCOLS[args.starttls]
        preamble = starttls.preamble(args.starttls, args.sni or args.host)
    port = args.port or (protocol.port if protocol else DEFAULT_PORT)
    sni = None if args.no_sni else (args.sni or _name_or_none(args.host))
    endpoint = transport.Endpoint(
        host=args.host, port=port, sni=sni, family=args.family, address=args.resolve
    )
    identity = None
    if args.client_cert:
        from check_cert_validity import clientcert  # only when asked: key loading is costly

        try:
            identity = clientcert.load(args.client_cert, args.client_key)
        except clientcert.ClientCertError as exc:
            raise PlanError(str(exc)) from None
    alpn = protocol.alpn if protocol else None

    def acquire() -> transport.Fetched:
        return transport.fetch(
            endpoint,
            args.timeout,
            preamble,
            alpn=alpn,
            identity=identity,
            started=getattr(args, "started", None),
        )

    return endpoint, acquire


def _name_or_none(host: str) -> str | None:
    return None if ip_literal(host) else host
