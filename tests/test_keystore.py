"""Keystores for ``--file``/``--expect-file``: PKCS#12 stores written by the real tools
(``openssl pkcs12 -export`` and Java's ``keytool``), Java's JKS/JCEKS named with the
command that converts them, every bad input one line in the right state, and no password
anywhere in the output; the parser that refuses abbreviated options."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from test_imports import loaded

from check_cert_validity import der, keystore
from check_cert_validity.certfactory import Issued, issue
from check_cert_validity.certfile import CertFileError
from check_cert_validity.options import OPTIONS, UsageError, build_parser

from conftest import NOW, NOW_ARG, as_user, cannot_run_as, plugin_command, run_plugin

DAY = timedelta(days=1)
# keytool wants six characters at least; distinctive, so that any leak shows.
PASSWORD = "Kafka-s3cret-7f2c"
VR = ("--validity", "30d", "--rotation", "10d")
LEAF_LINE = (
    "certificate 'kafka1.internal' has 25.0d left (expires 2026-12-25 12:00 UTC) "
    "| time_left=2160000s;1728000:2592000;864000:;;2592000"
)


@dataclass(frozen=True)
class Chain:
    leaf: Issued
    ca: Issued


@pytest.fixture(scope="module")
def chain() -> Chain:
    ca = issue(
        common_name="Kafka Test CA", ca=True, not_before=NOW - 400 * DAY, not_after=NOW + 3000 * DAY
    )
    leaf = issue(
        common_name="kafka1.internal",
        issuer=ca,
        not_before=NOW - 5 * DAY,
        not_after=NOW + 25 * DAY,
        serial=0x2001,
    )
    return Chain(leaf, ca)


def need(tool: str, package: str) -> str:
    found = shutil.which(tool)
    if found is None:
        pytest.skip(f"{tool} is not installed (Debian: apt-get install {package})")
    return found


def run(*command: str) -> None:
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, f"{command} failed:\n{proc.stdout}\n{proc.stderr}"


class Maker:
    """Writes the test's certificates and stores with the real tools into one directory."""

    def __init__(self, directory: str, chain: Chain) -> None:
        self.dir, self.chain = directory, chain
        self.password_file = self.write("password", PASSWORD.encode() + b"\n")
        self.leaf_pem = self.write("leaf.pem", chain.leaf.cert_pem())
        self.key_pem = self.write("leaf.key", chain.leaf.key_pem())
        self.ca_pem = self.write("ca.pem", chain.ca.cert_pem())
        self._made: dict[str, str] = {}

    def write(self, name: str, data: bytes) -> str:
        path = os.path.join(self.dir, name)
        with open(path, "wb") as handle:
            handle.write(data)
        os.chmod(path, 0o644)
        return path

    def store(self, kind: str) -> str:
        """The store of this kind (made once per module)."""
        if kind not in self._made:
            self._made[kind] = getattr(self, "_" + kind.replace("-", "_"))(
                os.path.join(self.dir, kind + (".jks" if "jks" in kind else ".p12"))
            )
            os.chmod(self._made[kind], 0o644)
        return self._made[kind]

    def openssl(self, out: str, *flags: str) -> str:
        need("openssl", "openssl")
        base = ["openssl", "pkcs12", "-export", "-in", self.leaf_pem, "-inkey", self.key_pem]
        run(*base, "-certfile", self.ca_pem, "-out", out, *flags)
        return out

    def _openssl(self, out: str) -> str:  # OpenSSL 3: AES-256-CBC, PBKDF2, HMAC-SHA256
        return self.openssl(out, "-passout", f"file:{self.password_file}")

    def _openssl_legacy(self, out: str) -> str:  # RC2-40 and 3DES, what OpenSSL 1.1 wrote
        need("openssl", "openssl")
        proc = subprocess.run(
            ["openssl", "pkcs12", "-export", "-legacy", "-in", self.leaf_pem, "-inkey",
             self.key_pem, "-certfile", self.ca_pem, "-out", out, "-passout",
             f"file:{self.password_file}"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            pytest.skip(f"openssl cannot write -legacy stores here: {proc.stderr.strip()[:200]}")
        return out

    def _openssl_empty(self, out: str) -> str:  # -passout pass: : the empty password
        return self.openssl(out, "-passout", "pass:")

    def _openssl_plain(self, out: str) -> str:  # no encryption, no MAC: no password at all
        return self.openssl(
            out, "-passout", "pass:", "-nomac", "-keypbe", "NONE", "-certpbe", "NONE"
        )

    def _key_only(self, out: str) -> str:
        need("openssl", "openssl")
        run("openssl", "pkcs12", "-export", "-nocerts", "-inkey", self.key_pem, "-out", out,
            "-passout", f"file:{self.password_file}")  # fmt: skip
        return out

    def keytool(self, out: str, storetype: str) -> str:
        need("keytool", "default-jre-headless")
        source = self.store("openssl")
        run("keytool", "-importkeystore", "-noprompt", "-srckeystore", source,
            "-srcstoretype", "pkcs12", "-srcstorepass", PASSWORD, "-destkeystore", out,
            "-deststoretype", storetype, "-deststorepass", PASSWORD)  # fmt: skip
        return out

    def _keytool(self, out: str) -> str:  # what Java 9+ writes by default
        return self.keytool(out, "pkcs12")

    def _keytool_truststore(self, out: str) -> str:  # one trusted certificate, no key
        need("keytool", "default-jre-headless")
        run("keytool", "-importcert", "-noprompt", "-alias", "ca", "-file", self.ca_pem,
            "-storetype", "pkcs12", "-keystore", out, "-storepass", PASSWORD)  # fmt: skip
        return out

    def _keytool_jks(self, out: str) -> str:
        return self.keytool(out, "JKS")

    def _keytool_jceks(self, out: str) -> str:
        return self.keytool(out[: -len(".jks")] + ".jceks", "JCEKS")


@pytest.fixture(scope="module")
def maker(chain: Chain) -> Iterator[Maker]:
    directory = tempfile.mkdtemp(prefix="ccv-keystore-")
    os.chmod(directory, 0o755)  # the unreadable-password test runs the plugin as nobody
    try:
        yield Maker(directory, chain)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def check(path: str, *args: str) -> tuple[int, str, str]:
    """Exit code, first line and the whole stdout; nothing on stderr, never the password."""
    result = run_plugin("--file", path, "--now", NOW_ARG, *args)
    assert result.stderr == ""
    assert PASSWORD not in result.stdout
    return result.code, result.first_line, result.stdout


# ---- stores the real tools write ---------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "with_password"),
    [
        ("openssl", True),
        ("openssl-legacy", True),
        ("keytool", True),
        ("openssl-empty", False),  # no password file: the empty password is tried
        ("openssl-plain", False),
        ("openssl-plain", True),  # a password given for a store that has none is no harm
    ],
)
def test_store_reads_leaf_first(kind: str, with_password: bool, maker: Maker) -> None:
    path = maker.store(kind)
    given = ("--file-password-file", maker.password_file) if with_password else ()
    code, line, out = check(path, *VR, *given, "-v", "--chain")
    assert (code, line.split(" | ")[0]) == (
        0,
        f"CERT_VALIDITY OK - {path} " + LEAF_LINE.split(" | ")[0],
    )
    assert line.startswith(f"CERT_VALIDITY OK - {path} {LEAF_LINE} time_left_chain1=")
    lines = out.splitlines()
    assert f"file: {path} (PKCS#12, 2 certificates; skipped: PRIVATE KEY)" in lines
    assert (
        "chain[1]: CN=Kafka Test CA,O=check_cert_validity test (notAfter 2035-02-16 12:00 UTC)"
        in lines
    )


def test_java_truststore_without_key(maker: Maker) -> None:
    path = maker.store("keytool-truststore")
    code, line, out = check(path, "--file-password-file", maker.password_file, "-v")
    assert (code, line) == (
        0,
        f"CERT_VALIDITY OK - {path} certificate 'Kafka Test CA' has 3000.0d left "
        "(expires 2035-02-16 12:00 UTC) | time_left=259200000s;97920000:;48960000:;;293760000",
    )
    assert f"file: {path} (PKCS#12, 1 certificate)" in out.splitlines()  # no key in it


def test_leaf_first_whatever_the_store_order(maker: Maker, chain: Chain) -> None:
    # The CA's bag first and the leaf's second, no key ID linking them: the leaf is the
    # certificate whose public key is the private key's.
    data = pkcs12.serialize_key_and_certificates(
        b"kafka", chain.leaf.key, None, [chain.ca.cert, chain.leaf.cert],
        serialization.BestAvailableEncryption(PASSWORD.encode()),
    )  # fmt: skip
    path = maker.write("ca-first.p12", data)
    need("openssl", "openssl")
    shown = subprocess.run(
        ["openssl", "pkcs12", "-in", path, "-nokeys", "-passin", f"file:{maker.password_file}"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    subjects = [line for line in shown.splitlines() if line.startswith("subject=")]
    # negative control: OpenSSL lists the store as written, the CA first
    assert "Kafka Test CA" in subjects[0] and "kafka1.internal" in subjects[1]
    code, line, _ = check(path, *VR, "--file-password-file", maker.password_file)
    assert (code, line) == (0, f"CERT_VALIDITY OK - {path} {LEAF_LINE}")


def test_ber_store_from_older_tools(maker: Maker) -> None:
    # The same store with an indefinite (BER) outer length, as some older tools wrote:
    # cryptography reads it and warns, which must not reach stderr (check() asserts that).
    data = Path(maker.store("openssl")).read_bytes()
    _, body, end = der.header(data)
    path = maker.write("ber.p12", b"\x30\x80" + data[body:end] + b"\x00\x00")
    code, line, _ = check(path, *VR, "--file-password-file", maker.password_file)
    assert (code, line) == (0, f"CERT_VALIDITY OK - {path} {LEAF_LINE}")


def test_password_file_is_read_as_openssl_reads_it(maker: Maker) -> None:
    # openssl -passout file: takes the first line without its newline; a carriage
    # return stays part of it. What openssl wrote with a file, that file opens.
    for name, text in [("two-lines", b"first\nsecond\n"), ("crlf", b"with-cr\r\n"), ("bare", b"x")]:
        password_file = maker.write(f"{name}.pass", text)
        path = maker.openssl(os.path.join(maker.dir, f"{name}.p12"), "-passout",
                             f"file:{password_file}")  # fmt: skip
        code, line, _ = check(path, *VR, "--file-password-file", password_file)
        assert (code, line) == (0, f"CERT_VALIDITY OK - {path} {LEAF_LINE}"), name
    assert keystore.read_password(maker.write("p1", b"first\nsecond\n")) == b"first"
    assert keystore.read_password(maker.write("p2", b"with-cr\r\n")) == b"with-cr\r"
    assert keystore.read_password(maker.write("p3", b"")) == b""


def test_keystore_as_expect_file(
    maker: Maker, chain: Chain, serve: Callable, leaf_factory: Callable[..., Issued]
) -> None:
    # Java services read their keystore once: is the one on disk what the service serves?
    server = serve([chain.leaf, chain.ca])
    endpoint = ("-H", "127.0.0.1", "-p", str(server.port), "--now", NOW_ARG, *VR)
    store = maker.store("keytool")
    given = ("--expect-file", store, "--file-password-file", maker.password_file)
    result = run_plugin(*endpoint, *given)
    assert (result.code, result.first_line) == (
        0,
        f"CERT_VALIDITY OK - 127.0.0.1:{server.port} {LEAF_LINE}",
    )
    # negative control: a server serving another certificate is told apart
    other = serve([leaf_factory(age=8, lifetime=30, common_name="kafka1.internal", serial=0xA1)])
    result = run_plugin("-H", "127.0.0.1", "-p", str(other.port), "--now", NOW_ARG, *VR, *given)
    assert result.code == 1
    assert f"is not the one at {store} (serial 20:01, notBefore 2026-11-25" in result.first_line
    # the password is needed there too; a wrong one is UNKNOWN
    result = run_plugin(*endpoint, "--expect-file", store)
    assert (result.code, result.first_line) == (
        3,
        f"CERT_VALIDITY UNKNOWN - {store}: the PKCS#12 store needs a password (the empty one "
        "does not open it): give a file holding it with --file-password-file | "
        + LEAF_LINE.split(" | ")[1],
    )


# ---- Java's own formats: one line naming the conversion, which works ----------------------


@pytest.mark.parametrize(
    ("kind", "name"),
    [("keytool-jks", "a Java KeyStore (JKS)"), ("keytool-jceks", "a Java JCEKS keystore")],
)
def test_java_keystore_names_the_conversion(kind: str, name: str, maker: Maker) -> None:
    path = maker.store(kind)
    target = os.path.splitext(path)[0] + ".p12"
    command = f"keytool -importkeystore -srckeystore {path} -destkeystore {target} "
    command += "-deststoretype pkcs12"
    code, line, _ = check(path, "--file-password-file", maker.password_file)
    assert (code, line) == (
        3,
        f"CERT_VALIDITY UNKNOWN - {path}: {name}, which cannot be read: convert it with {command}",
    )
    # --unreachable-state does not apply: the check is pointed at what it cannot read
    assert check(path, "--unreachable-state", "ok")[0] == 3
    # the command works as printed (the passwords given here instead of typed)
    run(*shlex.split(command), "-noprompt", "-srcstorepass", PASSWORD, "-deststorepass", PASSWORD)
    code, line, _ = check(target, *VR, "--file-password-file", maker.password_file)
    assert (code, line) == (0, f"CERT_VALIDITY OK - {target} {LEAF_LINE}")


def test_conversion_quotes_the_path() -> None:
    assert keystore.conversion("/srv/my store.jks") == (
        "convert it with keytool -importkeystore -srckeystore '/srv/my store.jks' "
        "-destkeystore '/srv/my store.p12' -deststoretype pkcs12"
    )
    assert keystore.conversion("/etc/kafka/truststore").endswith(
        "-destkeystore /etc/kafka/truststore.p12 -deststoretype pkcs12"
    )


# ---- bad input: one line, the right state, never the password -----------------------------


def _wrong(maker: Maker) -> tuple[str, tuple[str, ...]]:
    wrong = maker.write("wrong.pass", b"not-the-password\n")
    return maker.store("openssl"), ("--file-password-file", wrong)


def _cut(maker: Maker) -> tuple[str, tuple[str, ...]]:
    data = Path(maker.store("openssl")).read_bytes()
    return maker.write("cut.p12", data[:700]), ("--file-password-file", maker.password_file)


def _zeroed(maker: Maker) -> tuple[str, tuple[str, ...]]:
    # what a crash can leave: the right size, the second half zeros
    data = Path(maker.store("openssl")).read_bytes()
    zeroed = data[:700] + bytes(len(data) - 700)
    return maker.write("zeroed.p12", zeroed), ("--file-password-file", maker.password_file)


def _given(kind: str, *args: str) -> Callable[[Maker], tuple[str, tuple[str, ...]]]:
    def make(maker: Maker) -> tuple[str, tuple[str, ...]]:
        return maker.store(kind), tuple(
            arg.replace("PASSWORD_FILE", maker.password_file).replace("DIR", maker.dir)
            for arg in args
        )

    return make


BAD: list[tuple[str, Callable[[Maker], tuple[str, tuple[str, ...]]], int, str]] = [
    ("wrong password", _wrong, 3,
     "the password in {dir}/wrong.pass does not open the PKCS#12 store"),
    ("no password", _given("keytool"), 3, "the PKCS#12 store needs a password (the empty one does "
     "not open it): give a file holding it with --file-password-file"),
    ("password file missing", _given("openssl", "--file-password-file", "DIR/nope"), 3,
     "password file {dir}/nope: no such file"),
    ("password file a directory", _given("openssl", "--file-password-file", "DIR"), 3,
     "password file {dir}: is not a regular file"),
    ("cut short", _cut, 2, "a damaged PKCS#12 store (cut short: 700 of its {size} bytes)"),
    ("zeroed tail", _zeroed, 2, "a damaged PKCS#12 store (zero bytes where an element should be)"),
    ("no certificate", _given("key-only", "--file-password-file", "PASSWORD_FILE"), 2,
     "no certificate in the PKCS#12 store (it holds: a private key)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("make", "code", "reason"), [case[1:] for case in BAD], ids=[case[0] for case in BAD]
)
def test_bad_input(
    make: Callable[[Maker], tuple[str, tuple[str, ...]]], code: int, reason: str, maker: Maker
) -> None:
    path, args = make(maker)
    size = os.path.getsize(maker.store("openssl"))
    state = {2: "CRITICAL", 3: "UNKNOWN"}[code]
    expected = f"CERT_VALIDITY {state} - {path}: {reason.format(dir=maker.dir, size=size)}"
    got = check(path, *args)
    assert got[:2] == (code, expected)
    assert got[2] == expected + "\n"  # one line
    # CRITICAL is "no certificate", which --unreachable-state sets; UNKNOWN is not
    assert check(path, *args, "--unreachable-state", "warning")[0] == (1 if code == 2 else 3)
    # not even the tracebacks -vvv allows show the password (or a traceback at all)
    result = run_plugin("--file", path, "--now", NOW_ARG, "-vvv", *args)
    assert PASSWORD not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_unreadable_password_file_is_unknown(maker: Maker) -> None:
    secret = maker.write("unreadable.pass", PASSWORD.encode() + b"\n")
    os.chmod(secret, 0o600)
    store = maker.store("openssl")
    command = [*plugin_command(), "--file", store, "--now", NOW_ARG, "--file-password-file", secret]
    switch = {}
    if os.geteuid() == 0:  # root reads anything: run the plugin as nobody instead
        reason = cannot_run_as("nobody", plugin_command()[0])
        if reason:
            pytest.skip(reason)
        switch = as_user("nobody")
    else:
        os.chmod(secret, 0o000)
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, **switch)
    assert (done.returncode, done.stdout, done.stderr) == (
        3,
        f"CERT_VALIDITY UNKNOWN - {store}: password file {secret}: cannot read it: "
        "permission denied\n",
        "",
    )
    os.chmod(secret, 0o644)  # negative control: readable, the same command is OK
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, **switch)
    assert done.returncode == 0, done.stdout


def test_password_file_limits(tmp_path: Path) -> None:
    long = tmp_path / "long"
    long.write_bytes(b"x" * (keystore.MAX_PASSWORD + 1))
    with pytest.raises(CertFileError) as caught:
        keystore.read_password(str(long))
    assert str(caught.value) == f"password file {long}: its first line is longer than 1024 bytes"
    assert caught.value.cannot_look
    exact = tmp_path / "exact"
    exact.write_bytes(b"y" * keystore.MAX_PASSWORD + b"\n")
    assert keystore.read_password(str(exact)) == b"y" * keystore.MAX_PASSWORD
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # opening it would wait for a writer forever
    with pytest.raises(CertFileError, match="is not a regular file"):
        keystore.read_password(str(fifo))


def test_framing_checks() -> None:
    whole = der.tlv(0x30, der.tlv(0x02, b"\x03") + der.tlv(0x30, b"\x04\x00"))
    assert keystore.is_pkcs12(whole) and keystore.framing_fault(whole) is None
    assert keystore.framing_fault(whole[:-1]) == "cut short: 8 of its 9 bytes"
    inner_cut = whole[:3] + b"\x02\x01\x03\x30\x05\x04\x00"
    assert keystore.framing_fault(inner_cut) == "an element runs past the end of what holds it"
    # a certificate (SEQUENCE first) and short data are not taken for a store
    assert not keystore.is_pkcs12(der.tlv(0x30, der.tlv(0x30, b"")))
    assert not keystore.is_pkcs12(b"\x30")
    assert not keystore.is_pkcs12(b"")


# ---- start-up: what a keystore costs, only when there is one -----------------------------


def test_only_a_keystore_loads_the_pkcs12_reader(maker: Maker) -> None:
    probe = "cryptography.hazmat.primitives.serialization.pkcs12"
    python = os.path.join(os.path.dirname(plugin_command()[0]), "python")

    def pkcs12_loaded(code: str, *args: str) -> str:
        proc = subprocess.run(
            [python, "-c", f"{code}; print({probe!r} in sys.modules)", *args],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        return proc.stdout.splitlines()[-1]

    # Older cryptography (Debian 12's 38) loads it with its backend, to hash a certificate:
    # a PEM check may load no more than reading a certificate itself does.
    library = pkcs12_loaded(
        "import sys; from cryptography import x509; from cryptography.hazmat.primitives "
        "import hashes; x509.load_pem_x509_certificate(open(sys.argv[1], 'rb').read())"
        ".fingerprint(hashes.SHA256())",
        maker.leaf_pem,
    )
    check = "import sys; from check_cert_validity.cli import main; main(sys.argv[1:])"
    # a PEM file: no PKCS#12 machinery (16 ms of imports with cryptography 50)
    assert pkcs12_loaded(check, "--file", maker.leaf_pem, "--now", NOW_ARG) == library
    store = ("--file", maker.store("openssl"), "--file-password-file", maker.password_file)
    assert pkcs12_loaded(check, *store, "--now", NOW_ARG) == "True"
    found = loaded(*store)
    assert "cryptography" in found and "OpenSSL.SSL" not in found


# ---- the parser: long options spelled out, unknown words never echoed ---------------------


def plugin(*args: str) -> tuple[int, str, str]:
    result = run_plugin(*args)
    return result.code, result.first_line, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--file", "s.p12", "--file-password", "SECRET"),
         "unrecognized option --file-password; "
         "1 unexpected argument (not shown: it may be a secret)"),
        (("--file", "s.p12", "--file-password=SECRET"), "unrecognized option --file-password"),
        (("--file", "s.p12", "SECRET"), "1 unexpected argument (not shown: it may be a secret)"),
        (("--file-pass", "SECRET", "--file", "s.p12", "-SECRET2"),
         "unrecognized option --file-pass; "
         "2 unexpected arguments (not shown: it may be a secret)"),
    ],
)  # fmt: skip
def test_a_mistyped_password_option_is_a_usage_error_without_the_value(
    args: tuple[str, ...], message: str
) -> None:
    code, line, everything = plugin(*args)
    assert (code, line) == (3, f"CERT_VALIDITY UNKNOWN - usage error: {message}")
    assert "SECRET" not in everything


def test_password_file_needs_a_file_to_open() -> None:
    code, line, _ = plugin("-H", "127.0.0.1", "--file-password-file", "/etc/kafka/pass")
    assert (code, line) == (
        3,
        "CERT_VALIDITY UNKNOWN - usage error: --file-password-file needs --file or "
        "--expect-file (the keystore)",
    )


def _prefixes() -> list[str]:
    flags = {flag for option in OPTIONS for flag in option.flags}
    return sorted(
        flag[:-1]
        for flag in flags
        if flag.startswith("--") and len(flag) > 4 and flag[:-1] not in flags
    )


@pytest.mark.parametrize("prefix", _prefixes())
def test_no_long_option_may_be_abbreviated(prefix: str) -> None:
    with pytest.raises(UsageError, match=f"^unrecognized option {prefix}"):
        build_parser().parse_args([prefix, "1"])


def test_short_options_still_combine() -> None:
    # (argparse once lost -vvv together with abbreviations)
    assert build_parser().parse_args(["-vvv", "-4"]).verbose == 3


def test_exporter_refuses_abbreviations_too(capsys: pytest.CaptureFixture[str]) -> None:
    from check_cert_validity.exporter.main import build_parser as exporter_parser

    assert exporter_parser().parse_args(["--config.file", "x.yml"]).config_file == "x.yml"
    with pytest.raises(SystemExit) as caught:
        exporter_parser().parse_args(["--config", "x.yml"])
    assert caught.value.code == 2
    assert "unrecognized arguments: --config" in capsys.readouterr().err
