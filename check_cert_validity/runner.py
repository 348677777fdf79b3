"""Run one check: acquire (endpoint or file), judge, render; publish metrics when asked.

The one place that strings the steps together. Each path imports only what
it needs: a file check never loads the TLS library, ``--output openmetrics``
never loads nagiosplugin.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from check_cert_validity import acquire
from check_cert_validity.judgement import judge
from check_cert_validity.options import usage_text
from check_cert_validity.states import State

if TYPE_CHECKING:
    from argparse import Namespace
    from collections.abc import Callable

    from check_cert_validity.httpfetch import Download
    from check_cert_validity.judgement import Acquired, Judgement
    from check_cert_validity.thresholds import Policy
    from check_cert_validity.udp import Sender


def run(args: Namespace, policy: Policy) -> tuple[str, int]:
    """The plugin's output and exit code for one check (``-t`` counts from plugin start)."""
    sender = _sender(args)  # resolves while the check runs
    now = args.now or datetime.now(UTC)
    whole_chain = args.chain or args.verbose > 0  # judged, or listed in the long output
    if args.file:
        acquired = acquire.file(
            args.file, whole_chain, args.file_password_file, crls_beside=args.chain
        )
        where: tuple[str, int, str | None] = (args.file, 0, None)
    elif not args.host:  # --crl URL alone
        from check_cert_validity import crldownload

        acquired = crldownload.alone(args.crl, _downloader(args))
        where = (acquired.label, 0, None)
    else:
        from check_cert_validity import connection

        try:
            endpoint, fetch = connection.plan(args)
        except connection.PlanError as exc:
            return usage_text(str(exc)), State.UNKNOWN
        acquired = acquire.endpoint(
            endpoint.label, fetch, args.expect_file, whole_chain, args.file_password_file
        )
        where = (args.host, endpoint.port, endpoint.sni)
    if args.crl_from_cert or (args.crl and (args.host or args.file)):
        acquired = _crls_beside(args, acquired)
    judgement = judge(acquired, policy, now)
    if sender is not None:
        _send(args, sender, judgement, where)
    if args.output == "openmetrics":
        from check_cert_validity import gauges, openmetrics

        return openmetrics.render(gauges.samples(judgement, *where)), judgement.state
    from check_cert_validity import nagios

    return nagios.render(judgement, args.verbose)


def _crls_beside(args: Namespace, acquired: Acquired) -> Acquired:
    """``--crl URL`` and ``--crl-from-cert`` beside the certificate, after it was read."""
    from check_cert_validity import crldownload

    download = _downloader(args)
    if args.crl:
        acquired = crldownload.beside(acquired, args.crl, download)
    if args.crl_from_cert:
        acquired = crldownload.from_leaf(acquired, download)
    return acquired


def _downloader(args: Namespace) -> Callable[[str], Download]:
    """A CRL download bound to the check's one deadline (``-t`` from plugin start) and -4/-6."""
    from check_cert_validity import httpfetch

    def download(url: str) -> Download:
        started = getattr(args, "started", None)
        return httpfetch.get(url, args.timeout, started=started, family=args.family)

    return download


def _sender(args: Namespace) -> Sender | None:
    if not args.statsd:
        return None
    from check_cert_validity import udp

    return udp.Sender(*args.statsd)


def _send(
    args: Namespace, sender: Sender, judgement: Judgement, where: tuple[str, int, str | None]
) -> None:
    from check_cert_validity import gauges, statsd

    note = sender.send(statsd.datagrams(gauges.samples(judgement, *where), args.statsd_prefix))
    if args.verbose >= 3:
        sys.stderr.write(note + "\n")
