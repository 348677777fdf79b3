"""``check_cert_validity_exporter``: Prometheus-style flags, logging, signals, the event loop.

Flags as Prometheus' own exporters spell them (``--config.file``,
``--web.listen-address``, ``--web.config.file``, ``--log.level``), plus
``--probe.max-in-flight``.
A bad config at start is a one-line error and exit code 1; SIGHUP and
``POST /-/reload`` reload it and keep the old one on error; SIGTERM and
SIGINT stop the server.

The default port, 10219, lies outside 9100-9999, the range of Prometheus'
default port allocations (fully allocated since 2023).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import signal
import ssl
import sys
from collections.abc import Sequence

from check_cert_validity import __version__
from check_cert_validity.exporter import config as configuration
from check_cert_validity.exporter import http, logfmt, statsd_loop, webconfig
from check_cert_validity.exporter.handlers import Exporter

PROG = "check_cert_validity_exporter"
DEFAULT_LISTEN = ":10219"
LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
}

log = logging.getLogger("check_cert_validity.exporter")


def build_parser() -> argparse.ArgumentParser:
    """The exporter's flags."""
    # No abbreviations (as Prometheus' own flag parser): --config is no --config.file.
    parser = argparse.ArgumentParser(
        prog=PROG,
        allow_abbrev=False,
        description="Prometheus exporter for check_cert_validity: GET /probe?target=HOST:PORT"
        "&module=NAME answers with what --output openmetrics prints for that endpoint.",
    )
    parser.add_argument(
        "--config.file",
        dest="config_file",
        metavar="PATH",
        help="YAML config (modules, allowed_targets, statsd); "
        "without it only the default module exists",
    )
    parser.add_argument(
        "--web.listen-address",
        dest="listen",
        default=DEFAULT_LISTEN,
        metavar="[HOST]:PORT",
        help=f"where to serve HTTP (default {DEFAULT_LISTEN}: every address; port 0: any free one)",
    )
    parser.add_argument(
        "--web.config.file",
        dest="web_config_file",
        metavar="PATH",
        help="exporter-toolkit web config (tls_server_config, basic_auth_users); "
        "read again when it changes",
    )
    parser.add_argument(
        "--log.level",
        dest="log_level",
        choices=tuple(LEVELS),
        default="info",
        help="log level (default: info)",
    )
    parser.add_argument(
        "--probe.max-in-flight",
        dest="max_in_flight",
        type=_positive,
        default=100,
        metavar="N",
        help="probes running at once; more are answered 503 (default: 100)",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    return parser


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number above 0, not {text!r}")
    return int(text)


def listen_address(text: str) -> tuple[str | None, int]:
    """``[HOST]:PORT`` -> (host or None for every address, port); raises ValueError."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"invalid --web.listen-address {text!r}: use [HOST]:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return (host or None), int(port)


UNAUTHORIZED = http.Response(
    401, b"Unauthorized\n", headers=(("WWW-Authenticate", f'Basic realm="{PROG}"'),)
)


async def serve(
    exporter: Exporter,
    host: str | None,
    port: int,
    web: webconfig.WebConfigWatcher | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT; SIGHUP reloads."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, exporter.reload)

    async def guarded(request: http.Request) -> http.Response:
        if web is None:
            return await exporter.handle(request)
        web.refresh()
        if web.error is not None:
            return http.Response.text(500, "the web config is invalid: see the exporter's log")
        if web.config.users:
            # bcrypt is slow on purpose: off the event loop, so probes go on meanwhile
            good = await loop.run_in_executor(
                None, web.check_password, request.headers.get("authorization")
            )
            if not good:
                return UNAUTHORIZED
        return await exporter.handle(request)

    def tls() -> ssl.SSLContext | None:
        # the web config as it is now: its certificate files may have changed
        assert web is not None
        web.refresh()
        return web.ssl_context

    server = await loop.create_server(
        lambda: http.Connection(guarded, tls if web is not None else None),
        host,
        port,
        backlog=1024,
        reuse_address=True,
    )
    for sock in server.sockets:
        name = sock.getsockname()
        shown = f"[{name[0]}]:{name[1]}" if ":" in name[0] else f"{name[0]}:{name[1]}"
        log.info("listening on %s", shown)
    statsd_task = asyncio.create_task(_statsd_forever(exporter))
    async with server:
        await stop.wait()
    statsd_task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await statsd_task
    exporter.executor.shutdown(wait=False, cancel_futures=True)
    log.info("stopped")


async def _statsd_forever(exporter: Exporter) -> None:
    """The StatsD loop of the current config, restarted on every successful reload."""
    reloaded = asyncio.Event()
    exporter.reloads.append(reloaded)
    while True:
        reloaded.clear()
        loop_config = exporter.config.statsd
        if loop_config is None or not loop_config.targets:
            await reloaded.wait()
            continue
        task = asyncio.create_task(statsd_loop.run(exporter, loop_config))
        waiter = asyncio.create_task(reloaded.wait())
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        task.cancel()
        waiter.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        if not reloaded.is_set():  # the loop itself ended: wait for a new config
            await reloaded.wait()


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the flags, load the config, serve; the process exit code."""
    args = build_parser().parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logfmt.Formatter())
    log.handlers[:] = [handler]
    log.setLevel(LEVELS[args.log_level])
    log.propagate = False
    try:
        host, port = listen_address(args.listen)
        config = (
            configuration.load(args.config_file)
            if args.config_file
            else configuration.default_config()
        )
        web = webconfig.WebConfigWatcher(args.web_config_file) if args.web_config_file else None
    except (ValueError, configuration.ConfigError, webconfig.WebConfigError) as exc:
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return 1
    exporter = Exporter(config, args.config_file, args.max_in_flight)
    # Everything loaded so far lives as long as the process: keep the cyclic
    # collector from scanning it again and again. Its thresholds stay the
    # default: a probe's cycles hold OpenSSL memory that Python does not count,
    # and rarer passes let the RSS grow to many times its size.
    gc.freeze()
    log.info("starting %s %s, %d modules", PROG, __version__, len(config.modules))
    try:
        asyncio.run(serve(exporter, host, port, web))
    except OSError as exc:  # the address is taken, say
        sys.stderr.write(f"{PROG}: error: cannot listen on {args.listen}: {exc.strerror or exc}\n")
        return 1
    return 0


def console_main() -> int:
    """The console script."""
    return main()
