"""The landing page's fleet chart, rendered by Debian's headless Chromium.

The installed exporter probes an OK, a WARNING and a CRITICAL endpoint of two
issuers, and one whose certificate's CN is markup; Chromium loads ``/`` with
scripts irrelevant (the page has none), dumps the DOM and takes a screenshot.
The DOM must hold one bar per probed certificate with its state, the markup
as text and never as an element; the screenshot must show each state's
colour, and (the negative control) none of them before any probe.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import tempfile
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from exporter_run import ExporterProcess

from check_cert_validity.certfactory import Issued, issue
from check_cert_validity.exporter import fleet

NOW = datetime.now(UTC)
MODULES = "modules: {internal_30d: {validity: 30d, rotation: 10d}}\n"
HOSTILE_CN = '<img src=x onerror="alert(1)">'
HOSTILE_TARGET = "<b>bold</b>"


def rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def png_pixels(data: bytes) -> list[tuple[int, int, int]]:
    """The RGB pixels of an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour_type in (2, 6) and interlace == 0, header
    size = 4 if colour_type == 6 else 3
    raw = zlib.decompress(idat)
    stride = width * size
    previous = bytearray(stride)
    pixels = []
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - size] if i >= size else 0
            up = previous[i]
            corner = previous[i - size] if i >= size else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                guess = left + up - corner
                near = min(
                    (abs(guess - left), 0, left),
                    (abs(guess - up), 1, up),
                    (abs(guess - corner), 2, corner),
                )
                line[i] = (line[i] + near[2]) & 255
        pixels.extend(tuple(line[i : i + 3]) for i in range(0, stride, size))
        previous = line
    return pixels  # type: ignore[return-value]


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    found = shutil.which("chromium")
    if not found:
        pytest.skip("chromium not installed (Debian package chromium)")
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [
                found,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--window-size=1200,900",
                *args,
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )


def colours_seen(exporter: ExporterProcess, shot: Path) -> dict[str, int]:
    done = chromium(f"--screenshot={shot}", f"http://{exporter.address}/")
    assert shot.exists(), done.stderr[-2000:]
    pixels = png_pixels(shot.read_bytes())
    return {
        state: sum(1 for pixel in pixels if pixel == rgb(fleet.COLOURS[state]))
        for state in ("OK", "WARNING", "CRITICAL")
    }


def leaf(ca: Issued, age: float, **kwargs: object) -> Issued:
    start = NOW - timedelta(days=age)
    return issue(not_before=start, not_after=start + timedelta(days=30), issuer=ca, **kwargs)  # type: ignore[arg-type]


def test_chromium_draws_one_bar_per_certificate_coloured_by_state(
    tmp_path: Path, serve: Callable
) -> None:
    cas = [
        issue(
            common_name=name,
            ca=True,
            not_before=NOW - timedelta(days=40),
            not_after=NOW + timedelta(days=60),
        )
        for name in ("Fleet CA A", "Fleet CA B")
    ]
    # V=30d R=10d: 28d left OK, 15d left WARNING (below V-R), 5d left CRITICAL (below (V-R)/2)
    servers = {
        "OK": serve([leaf(cas[0], 2)]),
        "WARNING": serve([leaf(cas[1], 15)]),
        "CRITICAL": serve([leaf(cas[0], 25)]),
        "hostile": serve([leaf(cas[1], 2, common_name=HOSTILE_CN)]),
    }
    exporter = ExporterProcess(tmp_path, MODULES)
    try:
        before = colours_seen(exporter, tmp_path / "before.png")
        assert before == {"OK": 0, "WARNING": 0, "CRITICAL": 0}  # negative control
        for server in servers.values():
            assert exporter.probe(f"127.0.0.1:{server.port}", "internal_30d").status == 200
        assert exporter.probe(f"{HOSTILE_TARGET}:1", "internal_30d").status == 200

        dom = chromium("--dump-dom", f"http://{exporter.address}/").stdout
        bars = re.findall(r'<g class="cert" data-state="(\w+)" data-target="([^"]*)"', dom)
        assert sorted(bars) == sorted(
            [
                ("OK", f"127.0.0.1:{servers['OK'].port}"),
                ("OK", f"127.0.0.1:{servers['hostile'].port}"),
            ]
            + [(state, f"127.0.0.1:{servers[state].port}") for state in ("WARNING", "CRITICAL")]
        )
        assert dom.count('class="warning-point"') == 4 and dom.count('class="critical-point"') == 4
        assert dom.count('class="now"') == 1
        assert re.findall(r'class="issuer"[^>]*>issuer: ([^<]*)<', dom) == [
            "Fleet CA A",
            "Fleet CA B",
        ]
        # the two 28-days-left leaves expire within the same minute: one cluster of two
        assert 'class="cluster"' in dom
        assert "2 expire within 24 hours from" in dom
        # markup from a certificate and from a target is text, never an element
        assert "<img" not in dom and "<b>" not in dom
        assert "&lt;img src=x onerror=" in dom
        assert "&lt;b&gt;bold&lt;/b&gt;" in dom

        after = colours_seen(exporter, tmp_path / "after.png")
        assert all(count > 100 for count in after.values()), after
    finally:
        exporter.stop()


@pytest.mark.parametrize(
    ("days_left", "clustered"),
    [
        ([10, 10.5, 30], [(10, 2)]),
        ([10, 11.01, 12.02], []),  # each a day and a quarter-hour apart: no two together
        ([5, 5, 5, 20, 20.9], [(5, 3), (20, 2)]),
        ([7], []),
    ],
)
def test_clusters_count_expiries_within_the_same_24_hours(
    days_left: list[float], clustered: list[tuple[float, int]]
) -> None:
    now = NOW.timestamp()
    certs = [
        fleet.FleetCert("t", "m", "n", "i", now - 86400, now + d * 86400, None, None, "OK")
        for d in days_left
    ]
    found = [((start - now) / 86400, count) for start, _, count in fleet.clusters(certs)]
    assert found == [(pytest.approx(d), n) for d, n in clustered]
