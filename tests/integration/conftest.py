"""Real servers from Debian's packages, started on free loopback ports in temp dirs.

Each fixture writes a minimal configuration into its own directory, starts
the daemon as the tests' child (as the service user where the daemon insists
on one), waits until its port answers, and stops it after the module. A
missing binary skips with the Debian package to install (``.ci/run`` does).
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pytest

from check_cert_validity.certfactory import Issued, issue
from check_cert_validity.loopback import write_pem

from conftest import DAY, NOW, free_port, stop_process
from conftest import wait_for_port as listening

STARTUP_SECONDS = 30


@dataclass(frozen=True)
class Pki:
    """The server certificate every real server here serves."""

    directory: str
    cert: str
    key: str
    issued: Issued


def _as(user: str) -> list[str]:
    """Run as ``user`` when we are root (daemons that refuse root), else as ourselves."""
    return ["runuser", "-u", user, "--"] if os.geteuid() == 0 else []


def _need(path: str | None, package: str) -> str:
    if not path or not os.path.exists(path):
        pytest.skip(f"{package} is not installed (apt-get install {package})")
    return path


def _workdir(name: str) -> str:
    # Not under pytest's tmp_path: it is 0700, and daemons running as their
    # own user (postgres, dovenull, postfix) must reach files in here.
    path = tempfile.mkdtemp(prefix=f"ccv-{name}-")
    os.chmod(path, 0o755)
    return path


def wait_for_port(port: int, proc: subprocess.Popen | None, *logs: str) -> None:
    """Until the daemon listens on ``port``; fail with its logs if it died or never listens."""
    listening(port, timeout=STARTUP_SECONDS, proc=proc, logs=logs)


def _serving(started: tuple[int, subprocess.Popen, str]) -> Iterator[int]:
    """Yield the port of a started server, then stop it and remove its directory."""
    port, proc, directory = started
    yield port
    stop_process(proc)
    shutil.rmtree(directory, ignore_errors=True)


def _spawn(argv: Sequence[str], log: str, user: str | None = None) -> subprocess.Popen:
    """Start ``argv`` logging to ``log``; with ``user``, as that user when we are root.

    ``user`` switches in the child itself: unlike runuser (``_as``), no wrapper
    process that waits two seconds after forwarding SIGTERM to the daemon.
    """
    uid = gid = groups = None
    if user and os.geteuid() == 0:
        entry = pwd.getpwnam(user)
        uid, gid, groups = entry.pw_uid, entry.pw_gid, os.getgrouplist(user, entry.pw_gid)
    with open(log, "ab") as out:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            user=uid,
            group=gid,
            extra_groups=groups,
        )


@pytest.fixture(scope="module")
def pki() -> Iterator[Pki]:
    directory = _workdir("pki")
    issued = issue(not_before=NOW - 3 * DAY, not_after=NOW + 27 * DAY, common_name="real.internal")
    cert, key = write_pem(directory, "server", [issued])
    for path in (cert, key):
        os.chmod(path, 0o644)  # world-readable test key: dovecot/slapd read it as root or user
    yield Pki(directory, cert, key, issued)
    shutil.rmtree(directory, ignore_errors=True)


def _postgres_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=_version_key)
    return found[-1] if found else shutil.which(name)


def _version_key(path: str) -> tuple[int, ...]:
    parts = path.split("/")
    return tuple(int(p) for p in parts if p.isdigit()) or (0,)


def postgres_major() -> int:
    """The major version of the PostgreSQL server the fixtures start."""
    binary = _need(_postgres_bin("postgres"), "postgresql")
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1].split(".")[0])


def start_postgres(pki: Pki, ssl: bool) -> tuple[int, subprocess.Popen, str]:
    initdb = _need(_postgres_bin("initdb"), "postgresql")
    postgres = _need(_postgres_bin("postgres"), "postgresql")
    directory = _workdir("pg")
    shutil.copy(pki.cert, os.path.join(directory, "server.crt"))
    shutil.copy(pki.key, os.path.join(directory, "server.key"))
    os.chmod(os.path.join(directory, "server.key"), 0o600)  # postgres insists
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres")
        for name in ("server.crt", "server.key"):
            shutil.chown(os.path.join(directory, name), "postgres")
    data = os.path.join(directory, "data")
    log = os.path.join(directory, "postgres.log")
    _prepare(
        "initdb",
        [*_as("postgres"), initdb, "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"],
        log,
    )
    port = free_port()
    settings = {
        "port": str(port),
        "listen_addresses": "127.0.0.1",
        "unix_socket_directories": directory,
        "ssl": "on" if ssl else "off",
        "ssl_cert_file": os.path.join(directory, "server.crt"),
        "ssl_key_file": os.path.join(directory, "server.key"),
        "fsync": "off",
    }
    argv = [postgres, "-D", data]
    for key, value in settings.items():
        argv += ["-c", f"{key}={value}"]
    proc = _spawn(argv, log, user="postgres")
    wait_for_port(port, proc, log)
    return port, proc, directory


@pytest.fixture(scope="module")
def postgres(pki: Pki) -> Iterator[int]:
    yield from _serving(start_postgres(pki, ssl=True))


@pytest.fixture(scope="module")
def postgres_without_ssl(pki: Pki) -> Iterator[int]:
    yield from _serving(start_postgres(pki, ssl=False))


def start_slapd(pki: Pki, tls: bool) -> tuple[int, subprocess.Popen, str]:
    slapd = _need(shutil.which("slapd") or "/usr/sbin/slapd", "slapd")
    directory = _workdir("slapd")
    config = os.path.join(directory, "slapd.conf")
    lines = [
        "include /etc/ldap/schema/core.schema",
        f"pidfile {directory}/slapd.pid",
        f"argsfile {directory}/slapd.args",
    ]
    if tls:
        lines += [f"TLSCertificateFile {pki.cert}", f"TLSCertificateKeyFile {pki.key}"]
    with open(config, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    port = free_port()
    log = os.path.join(directory, "slapd.log")
    # -d 0: stay in the foreground (no daemonising), log nothing extra
    proc = _spawn([slapd, "-d", "0", "-h", f"ldap://127.0.0.1:{port}/", "-f", config], log)
    wait_for_port(port, proc, log)
    return port, proc, directory


@pytest.fixture(scope="module")
def slapd(pki: Pki) -> Iterator[int]:
    yield from _serving(start_slapd(pki, tls=True))


@pytest.fixture(scope="module")
def slapd_without_tls(pki: Pki) -> Iterator[int]:
    yield from _serving(start_slapd(pki, tls=False))


# Dovecot 2.4 (Debian 13) refuses 2.3's configuration: it must begin with
# dovecot_config_version, and the settings for the certificate, the mailbox
# and the user databases were renamed. The services are written alike (but
# for the LMTP listener's address).
DOVECOT_23_SETTINGS = """\
ssl_cert = <{cert}
ssl_key = <{key}
mail_location = maildir:{d}/home/Maildir
passdb {{
  driver = static
  args = password=unused
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={d}/home
}}
"""

DOVECOT_24_SETTINGS = """\
ssl_server_cert_file = {cert}
ssl_server_key_file = {key}
mail_driver = maildir
mail_path = {d}/home/Maildir
passdb static {{
  password = unused
}}
userdb static {{
  fields {{
    uid = nobody
    gid = nogroup
    home = {d}/home
  }}
}}
"""

DOVECOT_CONF = """\
{first}
base_dir = {d}/run
state_dir = {d}/state
instance_name = ccv-{port_imap}
log_path = {d}/dovecot.log
protocols = {protocols}
listen = 127.0.0.1
ssl = yes
{settings}
service imap-login {{
  inet_listener imap {{
    port = {port_imap}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {port_pop3}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    {address} = 127.0.0.1
    port = {port_lmtp}
  }}
}}
{sieve}
"""


def dovecot_version(binary: str) -> tuple[int, ...]:
    """``dovecot --version`` says e.g. ``2.3.19.1 (9b53102964)`` or ``2.4.1-4 (7d8c0e5759)``."""
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    found = re.match(r"\d+(?:\.\d+)+", out.stdout.strip())
    assert found, f"unexpected dovecot --version: {out.stdout!r}"
    return tuple(int(part) for part in found.group(0).split("."))


def dovecot_conf(binary: str, **values: object) -> str:
    """The configuration in the dialect of the installed Dovecot."""
    if dovecot_version(binary) >= (2, 4):
        first = "dovecot_config_version = 2.4.0\ndovecot_storage_version = 2.4.0"
        settings, address = DOVECOT_24_SETTINGS, "listen"
    else:
        first, settings, address = "", DOVECOT_23_SETTINGS, "address"
    return DOVECOT_CONF.format(
        first=first, settings=settings.format(**values), address=address, **values
    )


SIEVE_SERVICES = """\
service managesieve-login {{
  inet_listener sieve {{
    port = {port_sieve}
  }}
}}
service managesieve {{
}}
"""


@pytest.fixture(scope="module")
def dovecot(pki: Pki) -> Iterator[dict[str, int]]:
    """Dovecot's IMAP, POP3, LMTP and (with dovecot-managesieved) ManageSieve ports."""
    binary = _need(shutil.which("dovecot") or "/usr/sbin/dovecot", "dovecot-core")
    _need("/usr/lib/dovecot/imap-login", "dovecot-imapd")
    _need("/usr/lib/dovecot/pop3-login", "dovecot-pop3d")
    _need("/usr/lib/dovecot/lmtp", "dovecot-lmtpd")
    sieve = os.path.exists("/usr/lib/dovecot/managesieve-login")
    directory = _workdir("dovecot")
    for sub in ("run", "state", "home"):
        os.makedirs(os.path.join(directory, sub), mode=0o755)
    ports = {name: free_port() for name in ("imap", "pop3", "lmtp", "sieve")}
    if not sieve:
        del ports["sieve"]
    config = os.path.join(directory, "dovecot.conf")
    with open(config, "w") as handle:
        handle.write(
            dovecot_conf(
                binary,
                d=directory,
                cert=pki.cert,
                key=pki.key,
                protocols=" ".join(ports),
                sieve=SIEVE_SERVICES.format(port_sieve=ports["sieve"]) if sieve else "",
                **{f"port_{name}": port for name, port in ports.items() if name != "sieve"},
            )
        )
    log = os.path.join(directory, "dovecot.log")
    # configuration errors go to stderr, before dovecot opens its log
    stderr = os.path.join(directory, "stdout.log")
    proc = _spawn([binary, "-F", "-c", config], stderr)
    for port in ports.values():
        wait_for_port(port, proc, stderr, log)
    yield ports
    stop_process(proc)
    shutil.rmtree(directory, ignore_errors=True)


POSTFIX_MAIN = """\
compatibility_level = 3.6
queue_directory = {d}/queue
data_directory = {d}/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.check-cert-validity.test
mydestination =
alias_maps =
alias_database =
maillog_file_prefixes = {d}
maillog_file = {d}/maillog
smtpd_banner = $myhostname ESMTP
smtpd_tls_cert_file = {cert}
smtpd_tls_key_file = {key}
smtpd_tls_security_level = may
"""

# Only the services an smtpd answering EHLO and STARTTLS needs; no chroot.
POSTFIX_MASTER = """\
127.0.0.1:{port} inet n - n - - smtpd
cleanup   unix  n - n - 0 cleanup
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n - - trivial-rewrite
proxymap  unix  - - n - - proxymap
anvil     unix  - - n - 1 anvil
postlog   unix-dgram n - n - 1 postlogd
"""


@pytest.fixture(scope="module")
def postfix(pki: Pki) -> Iterator[int]:
    """A Postfix instance with its own config_directory (``postfix -c``)."""
    binary = _need(shutil.which("postfix") or "/usr/sbin/postfix", "postfix")
    if os.geteuid() != 0:
        pytest.skip("postfix's master must be started as root")
    directory = _workdir("postfix")
    conf = os.path.join(directory, "conf")
    for sub in ("conf", "queue", "data"):
        os.makedirs(os.path.join(directory, sub), mode=0o755)
    shutil.chown(os.path.join(directory, "data"), "postfix")
    port = free_port()
    with open(os.path.join(conf, "main.cf"), "w") as handle:
        handle.write(POSTFIX_MAIN.format(d=directory, cert=pki.cert, key=pki.key))
    with open(os.path.join(conf, "master.cf"), "w") as handle:
        handle.write(POSTFIX_MASTER.format(port=port))
    log = os.path.join(directory, "maillog")
    started = os.path.join(directory, "start.log")
    try:
        _prepare("postfix start", [binary, "-c", conf, "start"], started)
        wait_for_port(port, None, started, log)
        yield port
    finally:
        subprocess.run([binary, "-c", conf, "stop"], check=False, capture_output=True)
        shutil.rmtree(directory, ignore_errors=True)


def _prepare(what: str, argv: Sequence[str], log: str) -> None:
    """Run a bounded setup step (initialising a datadir); fail with its output."""
    with open(log, "ab") as out:
        try:
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=STARTUP_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            done = None
    if done is None or done.returncode != 0:
        tail = open(log, errors="replace").read()[-2000:]
        pytest.fail(f"{what} failed or timed out:\n{tail}")


def _mariadbd() -> str:
    return _need(shutil.which("mariadbd") or "/usr/sbin/mariadbd", "mariadb-server")


def mariadb_greeting_version(port: int) -> str:
    """The version the MariaDB server on ``port`` puts in its greeting packet.

    Read from the server itself, independently of the plugin: the greeting is
    a packet (3-byte length, sequence id), protocol version 10, then the
    version up to a NUL. What it looks like changed between releases: MariaDB
    10 prefixes it with ``5.5.5-`` (a replication hack, dropped in 11.0:
    MDEV-28910), Debian 13's 11.8 appends `` from Debian``. So that the test
    still follows the installed package, the version ``mariadbd --version``
    reports must be in it.
    """
    with socket.create_connection(("127.0.0.1", port), 10) as sock:
        sock.settimeout(10)
        packet = b""
        while len(packet) < 5 or b"\0" not in packet[5:]:
            chunk = sock.recv(4096)
            assert chunk, f"MariaDB on port {port} closed before its greeting: {packet!r}"
            packet += chunk
    assert packet[4] == 10, f"not a protocol 10 greeting: {packet[:40]!r}"
    version = packet[5 : packet.index(b"\0", 5)].decode()
    out = subprocess.run([_mariadbd(), "--version"], capture_output=True, text=True, check=True)
    installed = re.search(r"\d+\.\d+\.\d+", out.stdout)
    assert installed and installed.group(0) in version, (out.stdout, version)
    return version


def start_mariadb(pki: Pki, ssl: bool) -> tuple[int, subprocess.Popen, str]:
    """``mariadbd`` on a private datadir as the mysql user; no grant tables, no defaults files."""
    mariadbd = _mariadbd()
    install = _need(
        shutil.which("mariadb-install-db") or shutil.which("mysql_install_db"), "mariadb-server"
    )
    directory = _workdir("mariadb")
    if os.geteuid() == 0:
        shutil.chown(directory, "mysql")
    data = os.path.join(directory, "data")
    log = os.path.join(directory, "mariadb.log")
    # --no-defaults first: nothing from /etc/mysql, and /var/lib/mysql is never touched
    common = ["--no-defaults", f"--datadir={data}", "--innodb-log-file-size=4M"]
    _prepare(
        "mariadb-install-db",
        [
            *_as("mysql"),
            install,
            *common,
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--skip-name-resolve",
        ],
        log,
    )
    port = free_port()
    argv = [
        mariadbd,
        *common,
        f"--socket={directory}/mariadb.sock",
        f"--pid-file={directory}/mariadb.pid",
        f"--tmpdir={directory}",
        f"--port={port}",
        "--bind-address=127.0.0.1",
        "--skip-grant-tables",
        "--skip-name-resolve",
    ]
    argv += [f"--ssl-cert={pki.cert}", f"--ssl-key={pki.key}"] if ssl else ["--skip-ssl"]
    proc = _spawn(argv, log, user="mysql")  # it logs to stderr (no --log-error)
    wait_for_port(port, proc, log)
    return port, proc, directory


@pytest.fixture(scope="module")
def mariadb(pki: Pki) -> Iterator[int]:
    yield from _serving(start_mariadb(pki, ssl=True))


@pytest.fixture(scope="module")
def mariadb_without_ssl(pki: Pki) -> Iterator[int]:
    yield from _serving(start_mariadb(pki, ssl=False))


VSFTPD_CONF = """\
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port={port}
background=NO
ftpd_banner=ccv test FTP
anonymous_enable=YES
local_enable=NO
write_enable=NO
anon_root={d}/empty
secure_chroot_dir={d}/empty
ssl_enable={ssl}
rsa_cert_file={cert}
rsa_private_key_file={key}
"""


def start_vsftpd(pki: Pki, ssl: bool) -> tuple[int, subprocess.Popen, str]:
    """vsftpd standalone in the foreground; anonymous only (the plugin never logs in)."""
    binary = _need(shutil.which("vsftpd") or "/usr/sbin/vsftpd", "vsftpd")
    if os.geteuid() != 0:
        pytest.skip("vsftpd must be started as root")
    directory = _workdir("vsftpd")
    os.makedirs(os.path.join(directory, "empty"), mode=0o755)
    port = free_port()
    config = os.path.join(directory, "vsftpd.conf")  # vsftpd wants it owned by root
    with open(config, "w") as handle:
        handle.write(
            VSFTPD_CONF.format(
                d=directory, port=port, ssl="YES" if ssl else "NO", cert=pki.cert, key=pki.key
            )
        )
    log = os.path.join(directory, "vsftpd.log")
    with open(log, "ab") as out:
        # vsftpd writes its startup errors ("500 OOPS: ...") to fd 0, the inetd socket
        proc = subprocess.Popen([binary, config], stdin=out, stdout=out, stderr=subprocess.STDOUT)
    wait_for_port(port, proc, log)
    return port, proc, directory


@pytest.fixture(scope="module")
def vsftpd(pki: Pki) -> Iterator[int]:
    yield from _serving(start_vsftpd(pki, ssl=True))


@pytest.fixture(scope="module")
def vsftpd_without_ssl(pki: Pki) -> Iterator[int]:
    yield from _serving(start_vsftpd(pki, ssl=False))


# The XMPP domain the tests address (the plugin sends --sni, else -H, as the stream's 'to').
XMPP_DOMAIN = "xmpp.check-cert-validity.test"

PROSODY_CONF = """\
daemonize = false
certificates = "{certs}"
pidfile = "{d}/prosody.pid"
data_path = "{d}/data"
log = {{ info = "*console" }}
interfaces = {{ "127.0.0.1" }}
local_interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {port} }}
c2s_direct_tls_ports = {{}}
s2s_ports = {{}}
s2s_direct_tls_ports = {{}}
component_ports = {{}}
http_ports = {{}}
https_ports = {{}}
modules_enabled = {{ {modules} }}
modules_disabled = {{ "s2s", "posix" }}
storage = "memory"
authentication = "anonymous"
c2s_require_encryption = {tls}
{ssl}
VirtualHost "{domain}"
"""


def start_prosody(pki: Pki, tls: bool) -> tuple[int, subprocess.Popen, str]:
    """Prosody's client port only (no s2s, no HTTP), logging to its stdout."""
    binary = _need(shutil.which("prosody") or "/usr/bin/prosody", "prosody")
    directory = _workdir("prosody")
    os.makedirs(os.path.join(directory, "data"), mode=0o755)
    if os.geteuid() == 0:
        for path in (directory, os.path.join(directory, "data")):
            shutil.chown(path, "prosody")
    port = free_port()
    config = os.path.join(directory, "prosody.cfg.lua")
    with open(config, "w") as handle:
        handle.write(
            PROSODY_CONF.format(
                d=directory,
                port=port,
                modules='"tls", "saslauth"' if tls else '"saslauth"',
                tls="true" if tls else "false",
                ssl=f'ssl = {{ certificate = "{pki.cert}", key = "{pki.key}" }}' if tls else "",
                domain=XMPP_DOMAIN,
                certs=pki.directory,
            )
        )
    log = os.path.join(directory, "prosody.log")
    # prosody itself never leaves root (only prosodyctl does): _spawn switches
    proc = _spawn([binary, "-F", "--config", config], log, user="prosody")
    wait_for_port(port, proc, log)
    return port, proc, directory


@pytest.fixture(scope="module")
def prosody(pki: Pki) -> Iterator[int]:
    yield from _serving(start_prosody(pki, tls=True))


@pytest.fixture(scope="module")
def prosody_without_tls(pki: Pki) -> Iterator[int]:
    yield from _serving(start_prosody(pki, tls=False))
