"""STARTTLS: the plaintext preamble some protocols speak before TLS.

``PROTOCOLS`` maps each ``--starttls`` name to its default port and its
conversation. A conversation does its IO only through a ``Dialogue`` over the
transport's deadline-bound ``Channel``; what to send and how to read a reply
are pure functions in the protocol modules. ``postgres-direct`` has no
preamble: PostgreSQL 17 accepts a TLS handshake straight away when the client
offers ALPN "postgresql".
"""

# Annotations are evaluated here (no ``from __future__ import annotations``):
# typing.NamedTuple compiles every annotation given as a string when the class
# is made, and every check pays for that at start-up.

from importlib import import_module
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # the parser imports this table: no sockets or OpenSSL at import
    from collections.abc import Callable

    from check_cert_validity.starttls.dialogue import Dialogue
    from check_cert_validity.transport import Channel, Preamble

__all__ = ["PROTOCOLS", "Protocol", "preamble"]


class Protocol(NamedTuple):
    """One ``--starttls`` choice; its conversation is imported only when used."""

    label: str
    port: int
    runner: str | None  # "module.function" in this package
    alpn: bytes | None = None


PROTOCOLS: dict[str, Protocol] = {
    "smtp": Protocol("SMTP", 25, "text.run_smtp"),
    "lmtp": Protocol("LMTP", 24, "text.run_lmtp"),
    "imap": Protocol("IMAP", 143, "text.run_imap"),
    "pop3": Protocol("POP3", 110, "text.run_pop3"),
    "ftp": Protocol("FTP", 21, "text.run_ftp"),
    "nntp": Protocol("NNTP", 119, "text.run_nntp"),
    "sieve": Protocol("ManageSieve", 4190, "text.run_sieve"),
    "xmpp": Protocol("XMPP", 5222, "xmpp.run_xmpp"),
    "ldap": Protocol("LDAP", 389, "ldap.run_ldap"),
    "postgres": Protocol("PostgreSQL", 5432, "database.run_postgres"),
    "postgres-direct": Protocol("PostgreSQL", 5432, None, b"postgresql"),
    "mysql": Protocol("MySQL", 3306, "database.run_mysql"),
}


def runner(protocol: Protocol) -> "Callable[[Dialogue, str], None] | None":
    """The conversation function of ``protocol`` (imported now), or None."""
    if protocol.runner is None:
        return None
    module, function = protocol.runner.rsplit(".", 1)
    run = getattr(import_module(f"{__name__}.{module}"), function)
    if module == "text":  # the line protocols need no server name
        return lambda dialogue, _domain: run(dialogue)
    return run  # type: ignore[no-any-return]


def preamble(name: str, domain: str) -> "Preamble | None":
    """The transport preamble for protocol ``name`` (None when it has none).

    ``domain`` is the name the server is addressed by (XMPP's stream ``to``).
    """
    from check_cert_validity.starttls.dialogue import Dialogue

    protocol = PROTOCOLS[name]
    run = runner(protocol)
    if run is None:
        return None

    def talk(channel: "Channel") -> None:
        run(Dialogue(channel, protocol.label), domain)

    return talk
