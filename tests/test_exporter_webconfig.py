"""``--web.config.file``: the installed exporter over real TLS, spoken to by real ``curl``.

Basic auth with bcrypt hashes, client certificates required and verified, a
TLS minimum version, the file read again when it changes, a bad file
refused at start with one line. The TLS 1.1 client is Python's ``ssl`` at
security level 0 (Debian's curl cannot go below its OpenSSL's level); each
refusal has its negative control, the same client accepted when the config
allows it.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import time
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from exporter_run import ExporterProcess, run_exporter

from check_cert_validity.certfactory import Issued, issue

bcrypt = pytest.importorskip("bcrypt", reason="bcrypt not installed (pip install '.[exporter]')")

NOW = datetime.now(UTC)
PASSWORD = "s3cret: with a colon"


def curl() -> str:
    found = shutil.which("curl")
    if not found:
        pytest.skip("curl not installed (Debian package curl)")
    return found


def client_cert(ca: Issued) -> Issued:
    """A client certificate (clientAuth), which the factory's server leaves never are."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "prometheus")]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca.key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return Issued(cert, key)


class Files:
    """CA, server certificate, client CA and client certificate, written to a directory."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        server_ca = issue(
            common_name="Web CA",
            ca=True,
            not_before=NOW - timedelta(days=1),
            not_after=NOW + timedelta(days=90),
        )
        server = issue(
            issuer=server_ca, not_before=NOW - timedelta(days=1), not_after=NOW + timedelta(days=30)
        )
        client_ca = issue(
            common_name="Client CA",
            ca=True,
            not_before=NOW - timedelta(days=1),
            not_after=NOW + timedelta(days=90),
        )
        stranger_ca = issue(
            common_name="Stranger CA",
            ca=True,
            not_before=NOW - timedelta(days=1),
            not_after=NOW + timedelta(days=90),
        )
        self.write("ca.crt", server_ca.cert_pem())
        self.write("server.crt", server.cert_pem())
        self.write("server.key", server.key_pem())
        self.write("clients.crt", client_ca.cert_pem())
        for name, issuer in (("client", client_ca), ("stranger", stranger_ca)):
            made = client_cert(issuer)
            self.write(f"{name}.crt", made.cert_pem())
            self.write(f"{name}.key", made.key_pem())
        self.hash = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()

    def write(self, name: str, data: bytes) -> None:
        (self.dir / name).write_bytes(data)

    def web(self, text: str) -> Path:
        path = self.dir / "web.yml"
        path.write_text(text)
        return path


TLS = "tls_server_config: {cert_file: server.crt, key_file: server.key}\n"


@pytest.fixture
def files(tmp_path: Path) -> Files:
    return Files(tmp_path)


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[[Path], ExporterProcess]]:
    made: list[ExporterProcess] = []

    def go(web: Path) -> ExporterProcess:
        made.append(
            ExporterProcess(tmp_path, None, ["--web.config.file", str(web)], name=f"c{len(made)}")
        )
        return made[-1]

    yield go
    for proc in made:
        proc.stop()


def fetch(files: Files, exporter: ExporterProcess, *options: str, path: str = "/metrics") -> str:
    """``curl`` over https: the HTTP status and headers, or curl's exit code when TLS failed."""
    done = subprocess.run(
        [
            curl(),
            "-sS",
            "-D",
            "-",
            "-o",
            os.devnull,
            "--max-time",
            "20",
            "--cacert",
            str(files.dir / "ca.crt"),
            *options,
            f"https://localhost:{exporter.port}{path}",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    if done.returncode:
        return f"curl exit {done.returncode}: {done.stderr.strip()}"
    return done.stdout


def status(answer: str) -> str:
    return answer.splitlines()[0].strip() if answer.startswith("HTTP/") else answer


def test_basic_auth_over_tls_right_password_200_wrong_401(
    files: Files, start: Callable[[Path], ExporterProcess]
) -> None:
    exporter = start(files.web(TLS + f"basic_auth_users:\n  prometheus: '{files.hash}'\n"))
    right = fetch(files, exporter, "--user", f"prometheus:{PASSWORD}")
    assert status(right) == "HTTP/1.1 200 OK", right
    for user, password in (("prometheus", "wrong"), ("nobody", PASSWORD)):
        wrong = fetch(files, exporter, "--user", f"{user}:{password}")
        assert status(wrong) == "HTTP/1.1 401 Unauthorized", wrong
        assert "WWW-Authenticate: Basic" in wrong
    none = fetch(files, exporter, path="/probe?target=localhost:1")
    assert status(none) == "HTTP/1.1 401 Unauthorized", none
    # the right password again: the remembered check answers the same
    again = fetch(files, exporter, "--user", f"prometheus:{PASSWORD}")
    assert status(again) == "HTTP/1.1 200 OK", again
    # negative control: plain HTTP to a TLS port gets no answer from the exporter
    plain = subprocess.run(
        [curl(), "-sS", "--max-time", "10", f"http://localhost:{exporter.port}/metrics"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert plain.returncode != 0 and "cert_validity" not in plain.stdout


def test_client_certificate_required_and_verified(
    files: Files, start: Callable[[Path], ExporterProcess]
) -> None:
    exporter = start(
        files.web(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
            "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: clients.crt\n"
        )
    )
    refused = fetch(files, exporter)
    assert refused.startswith("curl exit"), refused
    stranger = fetch(
        files,
        exporter,
        "--cert",
        str(files.dir / "stranger.crt"),
        "--key",
        str(files.dir / "stranger.key"),
    )
    assert stranger.startswith("curl exit"), stranger
    # negative control: the client CA's own certificate gets in
    good = fetch(
        files,
        exporter,
        "--cert",
        str(files.dir / "client.crt"),
        "--key",
        str(files.dir / "client.key"),
    )
    assert status(good) == "HTTP/1.1 200 OK", good


def tls11_handshake(port: int) -> str:
    """A TLS 1.1-only client: 'accepted' or why the handshake failed."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():  # deprecated: that is the point of the test
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1_1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        try:
            with context.wrap_socket(raw) as tls:
                return f"accepted {tls.version()}"
        except (ssl.SSLError, ConnectionError) as exc:
            return f"refused: {exc}"


def test_min_version_refuses_a_tls11_client(
    files: Files, start: Callable[[Path], ExporterProcess]
) -> None:
    strict = start(files.web(TLS.replace("}", ", min_version: TLS12}")))
    assert tls11_handshake(strict.port).startswith("refused"), "TLS 1.1 got through"
    modern = fetch(files, strict, "--tlsv1.2")
    assert status(modern) == "HTTP/1.1 200 OK", modern
    # negative control: the same client with min_version TLS10 is let in
    old = start(files.web(TLS.replace("}", ", min_version: TLS10}")))
    answer = tls11_handshake(old.port)
    if answer != "accepted TLSv1.1":
        pytest.skip(f"this OpenSSL cannot speak TLS 1.1 at all, so no control: {answer}")


def test_the_file_is_read_again_when_it_changes(
    files: Files, start: Callable[[Path], ExporterProcess]
) -> None:
    web = files.web(TLS + f"basic_auth_users:\n  prometheus: '{files.hash}'\n")
    exporter = start(web)
    assert status(fetch(files, exporter, "--user", f"prometheus:{PASSWORD}")).endswith("200 OK")
    other = bcrypt.hashpw(b"new password", bcrypt.gensalt(4)).decode()
    time.sleep(0.01)  # a new mtime even on coarse clocks
    web.write_text(TLS + f"basic_auth_users:\n  grafana: '{other}'\n")
    old = fetch(files, exporter, "--user", f"prometheus:{PASSWORD}")
    assert status(old) == "HTTP/1.1 401 Unauthorized", old
    new = fetch(files, exporter, "--user", "grafana:new password")
    assert status(new) == "HTTP/1.1 200 OK", new
    # a broken edit fails closed (500, a reason in the log), never the last good users
    web.write_text(TLS + "basic_auth_users: [oops\n")
    broken = fetch(files, exporter, "--user", "grafana:new password")
    assert status(broken) == "HTTP/1.1 500 Internal Server Error", broken
    exporter.wait_log(r"level=error msg=\"web config reload failed.*not valid YAML")
    web.write_text(TLS + f"basic_auth_users:\n  grafana: '{other}'\n")
    fixed = fetch(files, exporter, "--user", "grafana:new password")
    assert status(fixed) == "HTTP/1.1 200 OK", fixed


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("basic_auth_users: [oops\n", "is not valid YAML at line"),
        ("basic_auth_users: {prometheus: plain}\n", "'prometheus' is not a bcrypt hash"),
        ("tls_server_config: {cert_file: server.crt}\n", "needs both cert_file and key_file"),
        (
            "tls_server_config: {cert_file: missing.crt, key_file: server.key}\n",
            "cannot load cert_file",
        ),
        (
            "tls_server_config: {cert_file: server.crt, key_file: client.key}\n",
            "cannot load cert_file",
        ),
        (TLS.replace("}", ", min_version: TLS9}"), "min_version must be one of TLS10"),
        (
            TLS.replace("}", ", client_auth_type: RequireAndVerifyClientCert}"),
            "needs client_ca_file",
        ),
        (TLS.replace("}", ", client_auth_type: RequireAnyClientCert}"), "is not supported"),
        (TLS.replace("}", ", cipher_suites: [X]}"), "unsupported tls_server_config key"),
        ("http_server_config: {http2: false}\n", "unsupported web config key(s): http_server"),
    ],
)
def test_a_bad_web_config_is_refused_at_start_in_one_line(
    files: Files, text: str, reason: str
) -> None:
    web = files.web(text)
    done = run_exporter("--web.listen-address", "127.0.0.1:0", "--web.config.file", str(web))
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "check_cert_validity_exporter: error: web config"
    )
    assert reason in lines[0], lines[0]
    assert "Traceback" not in done.stderr


@pytest.mark.integration
def test_real_prometheus_scrapes_over_tls_with_basic_auth(
    files: Files, start: Callable[[Path], ExporterProcess], serve: Callable, tmp_path: Path
) -> None:
    from test_exporter_prometheus import Prometheus

    exporter = start(files.web(TLS + f"basic_auth_users:\n  prometheus: '{files.hash}'\n"))
    served = serve([issue(not_before=NOW - timedelta(days=2), not_after=NOW + timedelta(days=28))])

    def job(name: str, password: str, tls: dict[str, object]) -> dict[str, object]:
        return {
            "job_name": name,
            "scheme": "https",
            "metrics_path": "/probe",
            "params": {"target": [f"127.0.0.1:{served.port}"]},
            "basic_auth": {"username": "prometheus", "password": password},
            "tls_config": tls,
            "static_configs": [{"targets": [f"localhost:{exporter.port}"]}],
        }

    ca_file = {"ca_file": str(files.dir / "ca.crt")}
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [
            job("verified", PASSWORD, ca_file),
            job("skip_verify", PASSWORD, {"insecure_skip_verify": True}),
            # negative controls: a wrong password, and a CA that did not sign the exporter's
            job("wrong_password", "wrong", ca_file),
            job("wrong_ca", PASSWORD, {"ca_file": str(files.dir / "clients.crt")}),
        ],
    }
    (tmp_path / "prometheus").mkdir()
    prometheus = Prometheus(tmp_path / "prometheus", config)
    try:
        prometheus.wait_for(
            lambda: len(prometheus.query("up")) == 4, 30, "Prometheus did not scrape all 4 jobs"
        )
        time.sleep(2)  # a few scrapes each
        up = {r["metric"]["job"]: r["value"][1] for r in prometheus.query("up")}
        assert up == {"verified": "1", "skip_verify": "1", "wrong_password": "0", "wrong_ca": "0"}
        success = {
            r["metric"]["job"]: r["value"][1]
            for r in prometheus.query("cert_validity_probe_success")
        }
        assert success == {"verified": "1", "skip_verify": "1"}
    finally:
        prometheus.stop()
