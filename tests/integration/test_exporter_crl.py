"""The exporter's ``crl`` prober: a scrape's target is a CRL's URL, served by a real nginx.

The installed exporter runs as a subprocess; each answer is compared with
what the installed plugin prints with ``--crl URL --output openmetrics``.
The CRLs come from a real ``openssl ca -gencrl``, dated from the real clock
(the exporter has no ``--now``). ``allowed_targets`` holds every connection
of a download, a redirect's too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from crlca import OpenSslCa
from exporter_run import ExporterProcess, value
from nginx import Nginx
from test_exporter_probe import assert_same_series

from check_cert_validity.certfactory import issue
from check_cert_validity.loopback import TLSServer

from conftest import has_ipv6_loopback, run_plugin

pytestmark = pytest.mark.integration

HOUR = timedelta(hours=1)
MODULES = """
modules:
  crls: {prober: crl, validity: 7d, rotation: 1d, timeout: 5s}
"""


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    ca = OpenSslCa(tmp_path_factory.mktemp("crlca"))
    now = datetime.now(UTC)
    files: dict[str, bytes | int] = {
        "fresh.crl": ca.gencrl(now - 12 * HOUR, now + 6.5 * 24 * HOUR, der=True),
        "late.crl": ca.gencrl(now - 2 * 24 * HOUR, now + 5 * 24 * HOUR, der=True),
    }
    locations = "        location = /away.crl { return 301 http://[::1]:{http}/fresh.crl; }\n"
    web = issue(not_before=now - 30 * 24 * HOUR, not_after=now + 60 * 24 * HOUR)
    server = Nginx(web, files, locations)
    yield server
    server.close()


@pytest.mark.parametrize(
    ("name", "https", "state"), [("fresh.crl", False, 0), ("late.crl", True, 1)]
)
def test_a_crl_url_is_what_the_plugin_prints(
    start: Callable[..., ExporterProcess], nginx: Nginx, name: str, https: bool, state: int
) -> None:
    exporter = start(MODULES)
    url = nginx.url(name, https=https)
    answer = exporter.probe(url, "crls")
    plugin = run_plugin(
        "--crl", url, "--validity", "7d", "--rotation", "1d", "-t", "5", "--output", "openmetrics"
    )
    assert answer.status == 200, answer.body
    assert_same_series(answer.body, plugin.stdout)
    assert f'host="{url}",port="0",sni="",kind="crl",position="0"' in answer.body
    assert value(answer.body, "cert_validity_state") == state


def test_a_missing_crl_keeps_its_series(
    start: Callable[..., ExporterProcess], nginx: Nginx
) -> None:
    exporter = start(MODULES)
    answer = exporter.probe(nginx.url("gone.crl"), "crls")
    assert answer.status == 200
    assert value(answer.body, "cert_validity_probe_success") == 0
    assert value(answer.body, "cert_validity_state") == 2
    debug = exporter.probe(nginx.url("gone.crl"), "crls", debug="true")
    assert "HTTP status 404 Not Found" in debug.body


def test_allowed_targets_hold_the_download_and_its_redirect(
    start: Callable[..., ExporterProcess], nginx: Nginx
) -> None:
    exporter = start(MODULES + 'allowed_targets: ["127.0.0.0/8"]\n')
    assert value(exporter.probe(nginx.url("fresh.crl"), "crls").body, "cert_validity_state") == 0
    refused = exporter.probe(nginx.url("fresh.crl", host="[::1]"), "crls")
    assert refused.status == 403
    assert "outside allowed_targets" in refused.body
    if not has_ipv6_loopback():
        pytest.skip("no ::1 on this machine: the redirect out of allowed_targets needs it")
    moved = exporter.probe(nginx.url("away.crl"), "crls", debug="true")
    assert moved.status == 200
    assert "redirected to http://[::1]:" in moved.body and "outside allowed_targets" in moved.body
    assert "cert_validity_probe_success" in moved.body
    # negative control: an exporter that permits ::1 follows the same redirect
    open_exporter = start(MODULES + 'allowed_targets: ["127.0.0.0/8", "::1"]\n')
    followed = open_exporter.probe(nginx.url("away.crl"), "crls")
    assert value(followed.body, "cert_validity_probe_success") == 1


@pytest.mark.parametrize(
    ("target", "reason"),
    [("ftp://127.0.0.1/ca.crl", "ftp"), ("", "missing target"), ("not a url", "")],
)
def test_a_target_that_is_no_http_url_is_a_400(
    start: Callable[..., ExporterProcess], target: str, reason: str
) -> None:
    exporter = start(MODULES)
    answer = exporter.probe(target, "crls")
    assert answer.status == 400
    assert reason in answer.body and answer.body.count("\n") <= 1


def test_crl_from_cert_judges_the_crl_the_served_leaf_names(
    start: Callable[..., ExporterProcess], nginx: Nginx, serve: Callable[..., TLSServer]
) -> None:
    now = datetime.now(UTC)

    def endpoint(crl: str) -> int:
        leaf = issue(
            common_name="svc.internal",
            not_before=now - 5 * 24 * HOUR,
            not_after=now + 25 * 24 * HOUR,
            crl_points=[[nginx.url(crl)]],
        )
        return serve([leaf]).port

    exporter = start(
        "modules:\n  crl_too: {crl_from_cert: true, crl_validity: 7d, crl_rotation: 1d}\n"
        '  leaf_only: {}\nallowed_targets: ["127.0.0.0/8"]\n'
    )
    port = endpoint("late.crl")
    answer = exporter.probe(f"127.0.0.1:{port}", "crl_too")
    plugin = run_plugin(
        "-H", "127.0.0.1", "-p", str(port), "--crl-from-cert", "--crl-validity", "7d",
        "--crl-rotation", "1d", "--output", "openmetrics",
    )  # fmt: skip
    assert answer.status == 200
    assert_same_series(answer.body, plugin.stdout)
    assert 'kind="crl",position="0"' in answer.body
    assert value(answer.body, "cert_validity_state") == 1  # the CRL's missed publication
    # negative control: the same endpoint without crl_from_cert judges the leaf alone
    alone = exporter.probe(f"127.0.0.1:{port}", "leaf_only")
    assert 'kind="crl"' not in alone.body
    assert value(alone.body, "cert_validity_state") == 0
    # a distribution point outside allowed_targets: a CRL not read, the probe still a 200
    if has_ipv6_loopback():
        leaf = issue(
            not_before=now - 24 * HOUR,
            not_after=now + 29 * 24 * HOUR,
            crl_points=[[nginx.url("fresh.crl", host="[::1]")]],
        )
        far = exporter.probe(f"127.0.0.1:{serve([leaf]).port}", "crl_too")
        assert far.status == 200
        assert value(far.body, "cert_validity_state") == 2
        assert value(far.body, "cert_validity_probe_success") == 1
