"""The exporter's other pages and its manners: /metrics, /, reload, bad input, the in-flight bound.

The installed console script as a subprocess, real TLS servers on loopback,
raw sockets for requests no HTTP library would send.
"""

from __future__ import annotations

import http
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from exporter_run import ExporterProcess, value
from prometheus_client.parser import text_string_to_metric_families

from check_cert_validity.certfactory import Issued, issue

from conftest import free_port


def status_line(code: int) -> bytes:
    """``414 URI Too Long``: the phrase as this Python words it (3.13 renamed 413 and 414)."""
    return f"{code} {http.HTTPStatus(code).phrase}".encode()


URI_TOO_LONG = status_line(414)


def real_leaf(age: float, lifetime: float, **kwargs: object) -> Issued:
    start = datetime.now(UTC) - timedelta(days=age)
    return issue(not_before=start, not_after=start + timedelta(days=lifetime), **kwargs)  # type: ignore[arg-type]


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_counts_probes_by_module_and_result(
    start: Callable[..., ExporterProcess], serve: Callable
) -> None:
    good = serve([real_leaf(1, 30)])
    exporter = start("modules: {m30: {validity: 30d}}\n")
    for _ in range(3):
        exporter.probe(f"127.0.0.1:{good.port}", "m30")
    exporter.probe(f"127.0.0.1:{free_port()}")
    exporter.probe("h:99999")  # refused (400): not a probe
    answer = exporter.get("/metrics")
    assert answer.status == 200
    found = samples(answer.body)
    probes = "cert_validity_exporter_probes_total"
    assert found[(probes, frozenset({("module", "m30"), ("result", "success")}))] == 3
    assert found[(probes, frozenset({("module", "default"), ("result", "failure")}))] == 1
    histogram = "cert_validity_exporter_probe_duration_seconds_count"
    assert found[(histogram, frozenset({("module", "m30")}))] == 3
    assert found[("cert_validity_exporter_config_last_reload_successful", frozenset())] == 1
    stamp = found[
        ("cert_validity_exporter_config_last_reload_success_timestamp_seconds", frozenset())
    ]
    assert abs(stamp - time.time()) < 60
    names = {name for name, _ in found}
    assert {"process_resident_memory_bytes", "process_open_fds", "python_info"} <= names
    assert "python_gc_collections_total" in names


def test_landing_page_lists_modules_and_recent_probes_escaped(
    start: Callable[..., ExporterProcess], serve: Callable
) -> None:
    hostile = serve([real_leaf(1, 30, common_name="<script>alert(1)</script>")])
    exporter = start("modules: {m30: {validity: 30d, rotation: 10d}}\n")
    exporter.probe(f"127.0.0.1:{hostile.port}", "m30")
    # a name the plugin's -H accepts too: a probe that cannot resolve it, listed escaped
    script = exporter.probe("<script>x</script>:1")
    assert value(script.body, "cert_validity_probe_success") == 0
    assert exporter.probe("<b>refused</b>:99999").status == 400
    page = exporter.get("/")
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "<td>m30</td><td>validity: 30d, rotation: 10d</td>" in page.body
    assert "<td>default</td><td>(plugin defaults)</td>" in page.body
    assert f"<td>127.0.0.1:{hostile.port}</td><td>OK</td><td>1</td>" in page.body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.body
    assert "<td>&lt;script&gt;x&lt;/script&gt;:1</td><td>CRITICAL</td><td>0</td>" in page.body
    assert "<script>" not in page.body  # nothing from a certificate or a target runs
    assert "refused" not in page.body  # refused requests are not listed


def test_only_the_last_100_probes_are_listed(
    start: Callable[..., ExporterProcess], serve: Callable
) -> None:
    exporter = start()
    closed = free_port()
    for _ in range(105):
        exporter.probe(f"127.0.0.1:{closed}")
    assert exporter.get("/").body.count(f"<td>127.0.0.1:{closed}</td>") == 100


def test_reload_by_post_and_sighup_keeps_the_old_config_on_error(
    start: Callable[..., ExporterProcess], serve: Callable
) -> None:
    good = serve([real_leaf(1, 30)])
    exporter = start("modules: {first: {validity: 30d}}\n")
    target = f"127.0.0.1:{good.port}"
    assert exporter.probe(target, "second").status == 400
    exporter.config_path.write_text("modules: {second: {validity: 30d}}\n")
    reloaded = exporter.request("POST", "/-/reload")
    assert (reloaded.status, reloaded.body) == (200, "config reloaded\n")
    assert exporter.probe(target, "second").status == 200
    assert exporter.probe(target, "first").body == "unknown module 'first'\n"

    exporter.config_path.write_text("modules: {third: {validity: 10d, rotation: 20d}}\n")
    failed = exporter.request("POST", "/-/reload")
    assert failed.status == 500
    assert failed.body.startswith(
        f"failed to reload config: {exporter.config_path}:1: module 'third'"
    )
    assert failed.body.count("\n") == 1
    assert exporter.probe(target, "second").status == 200  # the old config still runs
    gauge = "cert_validity_exporter_config_last_reload_successful"
    assert value(exporter.get("/metrics").body, gauge) == 0
    exporter.wait_log(r"level=error msg=\"config reload failed, the old config stays")

    exporter.config_path.write_text("modules: {fourth: {}}\n")
    exporter.hup()
    exporter.wait_log(r"config reloaded from .*: 2 modules")
    assert exporter.probe(target, "fourth").status == 200
    assert value(exporter.get("/metrics").body, gauge) == 1
    assert exporter.get("/-/reload").status == 405


def raw_request(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), 5) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


BAD_REQUESTS = [
    ("/probe", 400, "missing target: give ?target=HOST[:PORT]"),
    ("/probe?target=", 400, "missing target: give ?target=HOST[:PORT]"),
    ("/probe?target=%ff%fe", 400, "malformed query string: not UTF-8"),
    ("/probe?target=a&target=b", 400, "parameter 'target' given more than once"),
    (
        "/probe?" + "&".join(f"x{i}=1" for i in range(30)),
        400,
        "malformed query string: more than 20 fields",
    ),
    ("/probe?target=" + "a" * 5000, 400, "target too long (5000 characters, at most 300)"),
    ("/probe?target=%3Cscript%3E:0", 400, "invalid target: invalid port '0': must be 1 to 65535"),
    (
        "/probe?target=a..b",
        400,
        "invalid target: invalid host name 'a..b': label empty or too long",
    ),
    ("/probe?target=h:99999", 400, "invalid target: invalid port '99999': must be 1 to 65535"),
    ("/probe?target=[::1", 400, "invalid target '[::1': use HOST:PORT or [IPv6]:PORT"),
    ("/probe?target=127.0.0.1:1&module=nope", 400, "unknown module 'nope'"),
    (
        "/probe?target=10.0.0.1:443",
        403,
        "target 10.0.0.1:443 (10.0.0.1) is outside allowed_targets",
    ),
    ("/nothing", 404, "not found: '/nothing' (try /probe, /metrics or /)"),
]


@pytest.mark.parametrize(("path", "status", "line"), BAD_REQUESTS)
def test_bad_requests_get_one_line_and_the_right_status(
    start: Callable[..., ExporterProcess], path: str, status: int, line: str
) -> None:
    exporter = start('allowed_targets: ["127.0.0.0/8"]\n')
    answer = exporter.get(path)
    assert answer.status == status
    assert answer.body.startswith(line) and answer.body.count("\n") == 1, answer.body
    assert exporter.get("/-/healthy").body == "Healthy\n"


def test_requests_no_client_library_sends(start: Callable[..., ExporterProcess]) -> None:
    exporter = start()
    cases = [
        (b"GET /" + b"a" * 10000 + b" HTTP/1.1\r\n\r\n", URI_TOO_LONG),
        (b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\n\r\n", URI_TOO_LONG),
        (b"NONSENSE\r\n\r\n", b"400 Bad Request"),
        (b"DELETE /probe HTTP/1.1\r\n\r\n", b"405 Method Not Allowed"),
        (
            b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 200 + b"\r\n",
            b"431 Request Header Fields Too Large",
        ),
        (
            b"POST /-/reload HTTP/1.1\r\nContent-Length: 999999999\r\n\r\n",
            status_line(413),
        ),
        (b"GET / HTTP/1.1\r\nbroken header\r\n\r\n", b"400 Bad Request"),
    ]
    for request, status in cases:
        reply = raw_request(exporter.port, request)
        head, _, body = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 " + status), (request[:40], reply[:200])
        assert body.count(b"\n") == 1
    # a client that connects and says nothing holds no probe; others are served meanwhile
    with socket.create_connection(("127.0.0.1", exporter.port)):
        assert exporter.get("/-/ready").body == "Ready\n"
    # keep-alive: two requests on one connection
    reply = raw_request(
        exporter.port,
        b"GET /-/healthy HTTP/1.1\r\n\r\nGET /-/ready HTTP/1.1\r\nConnection: close\r\n\r\n",
    )
    assert reply.count(b"HTTP/1.1 200 OK") == 2 and reply.endswith(b"Ready\n")
    head = raw_request(exporter.port, b"HEAD /-/healthy HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert head.endswith(b"\r\n\r\n") and b"Content-Length: 8" in head
    assert "Traceback" not in "\n".join(exporter.log)


def test_probes_beyond_max_in_flight_get_503(
    start: Callable[..., ExporterProcess], raw_server: Callable, serve: Callable
) -> None:
    accepted: list[int] = []
    hung = raw_server(lambda srv, conn: (accepted.append(1), srv.wait(10)))
    exporter = start("modules: {slow: {timeout: 3}}\n", "--probe.max-in-flight", "2")
    answers: list[int] = []
    workers = [
        threading.Thread(
            target=lambda: answers.append(exporter.probe(f"127.0.0.1:{hung.port}", "slow").status)
        )
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    time.sleep(0.5)
    began = time.monotonic()
    busy = exporter.probe(f"127.0.0.1:{hung.port}", "slow")
    assert time.monotonic() - began < 0.5
    assert (busy.status, busy.body) == (503, "too many probes in flight (2), retry later\n")
    for worker in workers:
        worker.join(10)
    assert answers == [200, 200]
    assert len(accepted) == 2  # the refused probe never connected
    # negative control: once they are done, a probe runs again
    good = serve([real_leaf(1, 30)])
    assert exporter.probe(f"127.0.0.1:{good.port}").status == 200
