"""Run one check: acquire (endpoint or file), judge, render; optionally publish metrics.

Each mode imports only what it needs (a file check never loads the TLS
library; the plain leaf check loads none of the chain, file or uptake glue).
"""

from __future__ import annotations

import sys

from check_cert_validity.options import STATES, usage_text

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from datetime import datetime
    from typing import Any, Callable, Optional

    from check_cert_validity.arguments import Arguments
    from check_cert_validity.thresholds import Policy
    from check_cert_validity.udp import Sender

UNKNOWN = 3


def run_check(args: Arguments, policy: Policy) -> tuple[str, int]:
    """Fetch, judge and render one endpoint's certificate (``-t`` counts from plugin start)."""
    import nagiosplugin

    from check_cert_validity import connection, plugin

    try:
        endpoint, acquire = connection.plan(args)
    except connection.PlanError as exc:
        return usage_text(str(exc)), UNKNOWN
    now = args.now or utcnow()
    resource = plugin.ServedCertificate(
        acquire,
        endpoint.label,
        whole_chain=args.chain,
        expect=_expected_file(args.expect_file),
    )
    sender = _sender(args)
    check = nagiosplugin.Check(
        resource,
        plugin.ValidityContext(policy, now, endpoint.label),
        plugin.EndpointContext(STATES[args.unreachable_state], endpoint.label),
        plugin.CertSummary(args.verbose, now),
        *_disk_contexts(args, policy, now, endpoint.label),
        name="CERT_VALIDITY",
    )
    return finish(args, check, sender, (args.host, endpoint.port, endpoint.sni), now)


def finish(
    args: Arguments,
    check: Any,
    sender: Optional[Sender],
    where: tuple[str, int, Optional[str]],
    now: datetime,
) -> tuple[str, int]:
    """Run the assembled check, render it, publish its metrics when asked."""
    from check_cert_validity.output import render

    check()
    text = render(check, args.verbose)
    if sender is not None or args.output == "openmetrics":
        text = publish(args, sender, check, where, now) or text
    return text, check.exitcode


def publish(
    args: Arguments,
    sender: Optional[Sender],
    check: Any,
    where: tuple[str, int, Optional[str]],
    now: datetime,
) -> str:
    """Send the StatsD gauges; return the exposition text for --output openmetrics, else ""."""
    from check_cert_validity import gauges, openmetrics, plugin, statsd

    certs = tuple(
        gauges.CertReading(position, facts, bounds)
        for position, facts, bounds in plugin.judged_certificates(check)
    )
    samples = gauges.samples(gauges.Reading(*where, check.exitcode, now, certs))
    if sender is not None:
        note = sender.send(statsd.datagrams(samples, args.statsd_prefix))
        if args.verbose >= 3:
            sys.stderr.write(note + "\n")
    return openmetrics.render(samples) if args.output == "openmetrics" else ""


def _expected_file(path: Optional[str]) -> Optional[Callable[..., Any]]:
    if path is None:
        return None
    from check_cert_validity import plugin_disk

    return plugin_disk.ExpectedFile.at(path)


def _disk_contexts(args: Arguments, policy: Policy, now: datetime, label: str) -> list[Any]:
    if args.expect_file:
        from check_cert_validity import plugin_disk

        absent = STATES[args.unreachable_state]
        return plugin_disk.contexts(policy, now, label, absent, args.chain)
    if args.chain:
        from check_cert_validity import plugin_chain

        return [plugin_chain.ChainContext(policy, now, label)]
    return []  # the plain leaf check loads none of the chain/file/uptake glue


def run_file_check(args: Arguments, policy: Policy) -> tuple[str, int]:
    """Judge a certificate file (--file); never imports OpenSSL.SSL."""
    from check_cert_validity import plugin_disk

    now = args.now or utcnow()
    check = plugin_disk.file_check(
        args.file, args.chain, policy, now, args.verbose, STATES[args.unreachable_state]
    )
    return finish(args, check, _sender(args), (args.file, 0, None), now)


def _sender(args: Arguments) -> Optional[Sender]:
    if not args.statsd:
        return None
    from check_cert_validity import udp

    return udp.Sender(*args.statsd)  # resolves while the check runs


def utcnow() -> datetime:
    """The clock, timezone-aware UTC (``--now`` replaces it)."""
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)
