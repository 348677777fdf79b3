"""The StatsD loop: each listed target probed at start and then every ``interval``.

The gauges are the datagrams ``--statsd`` sends (``statsd.datagrams``).
Every target has a task of its own, so a slow one delays no other beyond
its own timeout; a target whose probe outlasts the interval starts its next
probe as soon as the last one ends, never two at once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from check_cert_validity import gauges, statsd, udp
from check_cert_validity.exporter.config import StatsdConfig, StatsdTarget

if TYPE_CHECKING:
    from check_cert_validity.exporter.handlers import Exporter

log = logging.getLogger("check_cert_validity.exporter")


async def _one_target(
    exporter: Exporter, loop_config: StatsdConfig, target: StatsdTarget, sender: udp.Sender
) -> None:
    loop = asyncio.get_running_loop()
    while True:
        start = loop.time()
        module = exporter.config.modules[target.module]
        try:
            judgement, spot, _seconds = await exporter.run_probe(
                module, target.host, target.port, module.timeout, check_allowed=False
            )
        except Exception:  # our own bug: logged, the loop goes on
            log.exception(
                "statsd probe failed",
                extra={"fields": {"target": target.text, "module": target.module}},
            )
        else:
            samples = gauges.samples(judgement, spot.host, spot.port, spot.sni)
            note = sender.send(statsd.datagrams(samples, loop_config.prefix), patience=0.5)
            log.debug("statsd sent", extra={"fields": {"target": target.text, "result": note}})
        await asyncio.sleep(max(0.0, start + loop_config.interval - loop.time()))


async def run(exporter: Exporter, loop_config: StatsdConfig) -> None:
    """Probe and send forever (until cancelled, on reload or shutdown)."""
    sender = udp.Sender(loop_config.host, loop_config.port)
    log.info(
        "statsd loop: %d targets every %gs to %s",
        len(loop_config.targets),
        loop_config.interval,
        sender.target,
    )
    async with asyncio.TaskGroup() as group:
        for target in loop_config.targets:
            group.create_task(_one_target(exporter, loop_config, target, sender))
