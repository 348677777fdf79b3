"""The routes, over one ``Exporter``: the running config, the probes in flight, the last probes.

``/probe`` runs acquire → judge → render for the scrape's target with the
module's options, exactly as the plugin would for the same options, and
answers with the plugin's OpenMetrics text. A target that cannot be read is
still a 200 with ``cert_validity_probe_success 0`` (its series never vanish);
HTTP errors are for requests that are wrong (400), not permitted (403) or
over the in-flight bound (503), each with a one-line reason.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import OrderedDict, deque
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from check_cert_validity.exporter import artifacts, exposition, fleet, groups, landing, prober
from check_cert_validity.exporter import config as configuration
from check_cert_validity.exporter.http import Request, Response
from check_cert_validity.exporter.known import KnownCertificates
from check_cert_validity.exporter.selfmetrics import SelfMetrics
from check_cert_validity.exporter.targets import TargetError, parse_target
from check_cert_validity.judgement import Judgement, judge

log = logging.getLogger("check_cert_validity.exporter")

SCRAPE_TIMEOUT_HEADER = "x-prometheus-scrape-timeout-seconds"
# Answer this much before Prometheus gives up on the scrape, so that even a
# probe that waits for its whole deadline is recorded.
SCRAPE_MARGIN = 0.5
MIN_DEADLINE = 0.1


# A fleet's targets come back every scrape; what cannot be parsed raises and is not kept.
_target = functools.lru_cache(maxsize=4096)(parse_target)


def probe_seconds(module_timeout: float, header: str | None) -> float:
    """The probe deadline: the module's timeout, capped by the scrape's minus the margin."""
    if header:
        try:
            scrape = float(header)
        except ValueError:
            return module_timeout
        if scrape > 0:
            return min(module_timeout, max(scrape - SCRAPE_MARGIN, MIN_DEADLINE))
    return module_timeout


class Exporter:
    """The running exporter's state, shared by every request and the StatsD loop."""

    def __init__(
        self,
        config: configuration.Config,
        config_path: str | None,
        max_in_flight: int,
        metrics: SelfMetrics | None = None,
    ) -> None:
        self.config = config
        self.config_path = config_path
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self.metrics = metrics or SelfMetrics()
        self.metrics.reloaded(True)
        self.recent: deque[landing.ProbeRecord] = deque(maxlen=landing.RECENT)
        # the last probe's certificates per (target, module), for the landing page's chart
        self.fleet: OrderedDict[tuple[str, str], tuple[fleet.FleetCert, ...]] = OrderedDict()
        # STARTTLS probes only (the others never leave the event loop)
        self.executor = ThreadPoolExecutor(
            max_workers=max(4, max_in_flight), thread_name_prefix="starttls"
        )
        self.reloads: list[asyncio.Event] = []  # set on every successful reload
        # endpoints that refused the classical key-exchange groups (kept across reloads)
        self.refusing = groups.Remembered()
        self.known = KnownCertificates()  # parsed certificates and their facts, by DER
        self.templates = exposition.Templates()  # /probe texts with the clock's values open

    def reload(self) -> str | None:
        """Read the config file again; on error keep the old config and return why."""
        if self.config_path is None:
            return None
        try:
            fresh = configuration.load(self.config_path)
        except configuration.ConfigError as exc:
            log.error("config reload failed, the old config stays: %s", exc)
            self.metrics.reloaded(False)
            return str(exc)
        self.config = fresh
        self.metrics.reloaded(True)
        log.info("config reloaded from %s: %d modules", self.config_path, len(fresh.modules))
        for event in self.reloads:
            event.set()
        return None

    async def run_probe(
        self,
        module: configuration.Module,
        host: str,
        port: int | None,
        seconds: float,
        *,
        check_allowed: bool = True,
        debug: bool = False,
    ) -> tuple[Judgement, prober.Where, float]:
        """Acquire and judge one endpoint (or file, or CRL); raises prober.Refused, TargetError."""
        allowed = self.config.allowed if check_allowed else None
        if module.prober == "tls":
            spot = prober.where(module, host, port, debug)
            acquired = await prober.acquired(
                module, spot, seconds, allowed, self.executor, self.refusing, self.known
            )
            if module.crl_from_cert:
                acquired = await artifacts.crl_from_leaf(
                    acquired, spot, seconds, allowed, self.executor, trusted=not check_allowed
                )
        else:  # host is the target as given: a path, or a CRL's URL
            spot, acquired = await artifacts.acquired(
                module, host, seconds, allowed, self.executor, debug, trusted=not check_allowed
            )
        judgement = judge(acquired, module.policy, datetime.now(UTC))
        duration = time.monotonic() - spot.started
        self.metrics.probed(module.name, judgement.probe_success, duration)
        summary = (judgement.problems[0].text if judgement.problems else "") or (
            judgement.certificates[0].text if judgement.certificates else ""
        )
        fields = {"target": spot.label, "module": module.name, "state": judgement.state.name}
        if not judgement.probe_success:
            # at the default level: an operator reading the journal sees why a target is down
            log.warning("probe failed", extra={"fields": {**fields, "reason": summary}})
        elif log.isEnabledFor(logging.DEBUG):  # not built for every probe at the default level
            log.debug("probe done", extra={"fields": {**fields, "seconds": f"{duration:.3f}"}})
        key = (spot.label, module.name)
        self.fleet.pop(key, None)
        if judgement.certificates:
            self.fleet[key] = fleet.certificates(judgement, spot.label, module.name)
            while len(self.fleet) > fleet.KEPT:
                self.fleet.popitem(last=False)
        self.recent.append(
            landing.ProbeRecord(
                time.time(),
                module.name,
                spot.label,
                judgement.state.name,
                judgement.probe_success,
                duration,
                summary,
            )
        )
        return judgement, spot, duration

    async def handle(self, request: Request) -> Response:
        """Route one request."""
        path = request.path
        if path == "/probe":
            return await self.probe(request)
        if path == "/-/reload":
            if request.method != "POST":
                return Response.text(405, "use POST to reload the config")
            error = self.reload()
            if error is not None:
                return Response.text(500, f"failed to reload config: {error}")
            return Response.text(200, "config reloaded")
        if path == "/metrics":
            return Response(200, self.metrics.render(), "text/plain; version=0.0.4; charset=utf-8")
        if path == "/-/healthy":
            return Response.text(200, "Healthy")
        if path == "/-/ready":
            return Response.text(200, "Ready")
        if path == "/":
            drawn = [cert for certs in self.fleet.values() for cert in certs]
            body = landing.page(self.config, self.recent, drawn, time.time()).encode("utf-8")
            return Response(200, body, "text/html; charset=utf-8")
        return Response.text(404, f"not found: {path[:100]!r} (try /probe, /metrics or /)")

    async def probe(self, request: Request) -> Response:
        """``/probe?target=HOST[:PORT]&module=NAME[&debug=true]``."""
        query = request.query
        config = self.config  # one config for the whole probe, whatever a reload does
        target = query.get("target", "")
        name = query.get("module", configuration.DEFAULT_MODULE)
        module = config.modules.get(name)
        if module is not None and module.prober != "tls":
            host, port = target, None  # a path or a URL, read by the prober itself
        else:
            try:
                host, port = _target(target)
            except TargetError as exc:
                return Response.text(400, str(exc))
        if module is None:
            shown = name if len(name) <= 60 else name[:57] + "..."
            return Response.text(400, f"unknown module {shown!r}")
        debug = query.get("debug", "").lower() in ("true", "1", "yes")
        if self.in_flight >= self.max_in_flight:
            return Response.text(
                503, f"too many probes in flight ({self.max_in_flight}), retry later"
            )
        seconds = probe_seconds(module.timeout, request.headers.get(SCRAPE_TIMEOUT_HEADER))
        self.in_flight += 1
        try:
            judgement, spot, duration = await self.run_probe(
                module, host, port, seconds, debug=debug
            )
        except prober.Refused as exc:
            return Response.text(403, str(exc))
        except TargetError as exc:
            return Response.text(400, str(exc))
        finally:
            self.in_flight -= 1
        text = self.templates.text(judgement, spot.host, spot.port, spot.sni, duration)
        if debug:
            return Response.text(200, _debug_text(spot, judgement, text))
        return Response(
            200, text.encode("utf-8"), exposition.content_type(request.headers.get("accept", ""))
        )


def _debug_text(spot: prober.Where, judgement: Judgement, metrics: str) -> str:
    from check_cert_validity import nagios  # the -vv long output; only for debug answers

    output, _code = nagios.render(judgement, 2)
    return (
        "Logs for the probe:\n"
        + "\n".join(spot.lines)
        + "\n\nThe plugin's output (-vv):\n"
        + output
        + "\nMetrics that would have been returned:\n"
        + metrics
    )
