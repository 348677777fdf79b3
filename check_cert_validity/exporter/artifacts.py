"""The ``file`` and ``crl`` probers: a scrape's target names a path or a CRL's URL.

A ``file`` module reads the certificates, keystores or CRLs at the path the
target names, exactly as ``--file`` does (the same acquisition, the same labels:
``host`` is the path, ``port`` 0), but only where a path pattern of
``allowed_targets`` permits it. A ``crl`` module downloads the CRL at the
URL the target names, as ``--crl`` does, with the host checked against
``allowed_targets`` like an endpoint's. Both run the plugin's own blocking
code in a worker thread, bounded by the probe's deadline: a file on a hung
network mount or a slow web server delays only its own scrape.
"""

from __future__ import annotations

import asyncio
import functools
import os
from concurrent.futures import Executor
from typing import TYPE_CHECKING

from check_cert_validity import acquire
from check_cert_validity.certinfo import clean
from check_cert_validity.exporter.config import Module
from check_cert_validity.exporter.prober import Refused, Where
from check_cert_validity.exporter.targets import Allowed, TargetError
from check_cert_validity.judgement import Acquired, Unreadable

if TYPE_CHECKING:
    from collections.abc import Callable

    from check_cert_validity import httpfetch
    from check_cert_validity.httpfetch import Permit, Url

# Longer than any path an operator would give (PATH_MAX is 4096 on Linux).
MAX_PATH = 1024


def file_where(target: str, debug: bool = False) -> Where:
    """The file as the plugin labels it; raises TargetError for a path that is not absolute."""
    if not target:
        raise TargetError("missing target: give ?target=/absolute/path")
    if len(target) > MAX_PATH:
        raise TargetError(f"target too long ({len(target)} characters, at most {MAX_PATH})")
    if not target.startswith("/") or "\0" in target:
        raise TargetError("a file module's target is an absolute path (/etc/ssl/...)")
    return Where(target, 0, None, debug=debug, shown=acquire.file_label(target))


async def file_acquired(
    module: Module,
    spot: Where,
    seconds: float,
    allowed: Allowed | None,
    executor: Executor,
    trusted: bool = False,
) -> Acquired:
    """Read the file, if permitted; raises Refused (403) when it is not.

    ``trusted``: the path is the operator's own (the StatsD loop's targets),
    not a scraper's, and needs no pattern.
    """
    path = spot.host
    if not trusted and (allowed is None or not allowed.permits_path(path)):
        raise Refused(f"file {os.path.normpath(path)} is outside allowed_targets' path patterns")
    chain = module.policy.whole_chain  # judged, or (debug) listed in the long output
    loop = asyncio.get_running_loop()
    read = functools.partial(
        acquire.file, path, chain or spot.debug, module.file_password_file, crls_beside=chain
    )
    work = loop.run_in_executor(executor, read)
    try:
        return await asyncio.wait_for(work, seconds)
    except TimeoutError:
        why = Unreadable(f"timed out after {seconds:g}s reading the file", cannot_look=True)
        return Acquired(spot.label, unreadable=why, is_file=True)


async def acquired(
    module: Module,
    target: str,
    seconds: float,
    allowed: Allowed | None,
    executor: Executor,
    debug: bool = False,
    trusted: bool = False,
) -> tuple[Where, Acquired]:
    """What a ``file`` or ``crl`` module's target holds; raises TargetError, Refused."""
    if module.prober == "crl":
        spot, url = crl_where(target, debug)
        return spot, await crl_acquired(spot, url, seconds, allowed, executor, trusted)
    spot = file_where(target, debug)
    return spot, await file_acquired(module, spot, seconds, allowed, executor, trusted)


def crl_where(target: str, debug: bool = False) -> tuple[Where, Url]:
    """The URL as the plugin labels it (``host`` the URL, ``port`` 0, as ``--crl``)."""
    from check_cert_validity.httpfetch import FetchError, parse_url

    if not target:
        raise TargetError("missing target: give ?target=http://host/path.crl")
    if len(target) > MAX_PATH:
        raise TargetError(f"target too long ({len(target)} characters, at most {MAX_PATH})")
    try:
        url = parse_url(target)
    except FetchError as exc:
        raise TargetError(str(exc)) from None
    label = clean(target, 200)
    return Where(label, 0, None, debug=debug, shown=label), url


async def crl_acquired(
    spot: Where,
    url: Url,
    seconds: float,
    allowed: Allowed | None,
    executor: Executor,
    trusted: bool = False,
) -> Acquired:
    """Download and read the CRL, as ``--crl URL`` alone does; raises Refused (403)
    when ``allowed_targets`` permits none of the URL's addresses."""
    from check_cert_validity import crldownload

    permit = None if trusted or allowed is None else _permit(allowed, url.text)
    download = _downloader(spot, seconds, permit)
    loop = asyncio.get_running_loop()
    work = loop.run_in_executor(executor, crldownload.alone, url.text, download)
    # the download ends at its own deadline; this only guards against a bug in it
    return await asyncio.wait_for(work, seconds + 1.0)


async def crl_from_leaf(
    acquired: Acquired,
    spot: Where,
    seconds: float,
    allowed: Allowed | None,
    executor: Executor,
    trusted: bool = False,
) -> Acquired:
    """``crl_from_cert``: the CRL the served leaf names, beside it, within the probe's
    deadline, as ``--crl-from-cert`` does. A distribution point outside
    ``allowed_targets`` is a CRL that could not be read, never a 403: the
    scraper named the endpoint, the certificate named the URL."""
    from check_cert_validity import crldownload

    permit = None if trusted or allowed is None else _permit(allowed, None)
    download = _downloader(spot, seconds, permit)
    loop = asyncio.get_running_loop()
    work = loop.run_in_executor(executor, crldownload.from_leaf, acquired, download)
    return await asyncio.wait_for(work, seconds + 1.0)


def _downloader(
    spot: Where, seconds: float, permit: Permit | None
) -> Callable[[str], httpfetch.Download]:
    """A download bound to the probe's one deadline (counted from its start)."""
    from check_cert_validity import httpfetch

    def download(text: str) -> httpfetch.Download:
        return httpfetch.get(text, seconds, started=spot.started, permit=permit)

    return download


def _permit(allowed: Allowed, scraped: str | None) -> Permit:
    """The hook that holds every connection of a download to ``allowed_targets``.

    The scraped URL outside them is refused (403), as an endpoint is; a
    redirect out of them, or a URL a certificate named, is a download that
    failed.
    """
    from check_cert_validity.httpfetch import FetchError

    def check(url: Url, addresses: list[tuple[int, tuple]]) -> list[tuple[int, tuple]]:
        if allowed.permits_name(url.host, url.port):
            return addresses
        kept = [item for item in addresses if allowed.permits_address(item[1][0], url.port)]
        if kept:
            return kept
        shown = ", ".join(str(item[1][0]) for item in addresses[:4])
        if url.text == scraped:
            raise Refused(f"target {url.shown} ({shown}) is outside allowed_targets")
        raise FetchError(f"redirected to {url.shown} ({shown}), outside allowed_targets")

    return check
