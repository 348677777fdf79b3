"""The exporter's own metrics on ``/metrics``, with prometheus_client.

The process and Python collectors, what every probe adds (a counter by
module and result, a duration histogram by module) and the config reload
gauges Prometheus' own ``prometheus_config_last_reload_*`` taught operators
to alert on. The probes' answers do not use prometheus_client: they are
written as text directly, which costs a fraction of building its objects.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    gc_collector,
    generate_latest,
    platform_collector,
    process_collector,
)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# From a fast loopback handshake to a probe that waits for its whole deadline.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class SelfMetrics:
    """One registry per exporter process (tests run several in one interpreter)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        process_collector.ProcessCollector(registry=self.registry)
        platform_collector.PlatformCollector(registry=self.registry)
        gc_collector.GCCollector(registry=self.registry)
        self.probes = Counter(
            "cert_validity_exporter_probes",
            "Probes run, by module and result (success: a certificate was read).",
            ["module", "result"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "cert_validity_exporter_probe_duration_seconds",
            "How long probes took, by module.",
            ["module"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.reload_ok = Gauge(
            "cert_validity_exporter_config_last_reload_successful",
            "1 when the last config (re)load succeeded, 0 when it failed and the old one runs.",
            registry=self.registry,
        )
        self.reload_time = Gauge(
            "cert_validity_exporter_config_last_reload_success_timestamp_seconds",
            "When the config was last loaded successfully (Unix time).",
            registry=self.registry,
        )

        # each module's labelled children, looked up once (labels() locks and builds a key)
        self._children: dict[tuple[str, bool], tuple[Any, Any]] = {}

    def probed(self, module: str, success: bool, seconds: float) -> None:
        """Count one finished probe."""
        children = self._children.get((module, success))
        if children is None:
            children = self._children[(module, success)] = (
                self.probes.labels(module, "success" if success else "failure"),
                self.duration.labels(module),
            )
        children[0].inc()
        children[1].observe(seconds)

    def reloaded(self, ok: bool) -> None:
        """Record a config load attempt."""
        self.reload_ok.set(1 if ok else 0)
        if ok:
            self.reload_time.set_to_current_time()

    def render(self) -> bytes:
        """The text for ``/metrics``."""
        return generate_latest(self.registry)
