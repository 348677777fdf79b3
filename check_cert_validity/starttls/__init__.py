"""STARTTLS: the plaintext preamble some protocols speak before TLS.

``PROTOCOLS`` maps each ``--starttls`` name to its default port and its
conversation. A conversation does its IO only through a ``Dialogue`` over the
transport's deadline-bound ``Channel``; what to send and how to read a reply
are pure functions in the protocol modules. ``postgres-direct`` has no
preamble: PostgreSQL 17 accepts a TLS handshake straight away when the client
offers ALPN "postgresql".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Optional

from check_cert_validity.starttls import text
from check_cert_validity.starttls.database import run_mysql, run_postgres
from check_cert_validity.starttls.ldap import run_ldap
from check_cert_validity.starttls.xmpp import run_xmpp

if TYPE_CHECKING:  # the parser imports this table: no sockets or OpenSSL at import
    from check_cert_validity.starttls.dialogue import Dialogue
    from check_cert_validity.transport import Channel, Preamble

__all__ = ["PROTOCOLS", "Protocol", "preamble"]


@dataclass(frozen=True)
class Protocol:
    """One ``--starttls`` choice."""

    label: str
    port: int
    run: Optional[Callable[[Dialogue, str], None]]
    alpn: Optional[bytes] = None


def _plain(run: Callable[[Dialogue], None]) -> Callable[[Dialogue, str], None]:
    return lambda dialogue, _domain: run(dialogue)


PROTOCOLS: dict[str, Protocol] = {
    "smtp": Protocol("SMTP", 25, _plain(text.run_smtp)),
    "lmtp": Protocol("LMTP", 24, _plain(text.run_lmtp)),
    "imap": Protocol("IMAP", 143, _plain(text.run_imap)),
    "pop3": Protocol("POP3", 110, _plain(text.run_pop3)),
    "ftp": Protocol("FTP", 21, _plain(text.run_ftp)),
    "nntp": Protocol("NNTP", 119, _plain(text.run_nntp)),
    "sieve": Protocol("ManageSieve", 4190, _plain(text.run_sieve)),
    "xmpp": Protocol("XMPP", 5222, run_xmpp),
    "ldap": Protocol("LDAP", 389, run_ldap),
    "postgres": Protocol("PostgreSQL", 5432, run_postgres),
    "postgres-direct": Protocol("PostgreSQL", 5432, None, alpn=b"postgresql"),
    "mysql": Protocol("MySQL", 3306, run_mysql),
}


def preamble(name: str, domain: str) -> Optional[Preamble]:
    """The transport preamble for protocol ``name`` (None when it has none).

    ``domain`` is the name the server is addressed by (XMPP's stream ``to``).
    """
    from check_cert_validity.starttls.dialogue import Dialogue

    protocol = PROTOCOLS[name]
    run = protocol.run
    if run is None:
        return None

    def talk(channel: Channel) -> None:
        run(Dialogue(channel, protocol.label), domain)

    return talk
