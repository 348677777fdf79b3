"""A real Icinga 2 cluster runs the plugin on an agent through the shipped CheckCommand.

Two Icinga 2 daemons, a master and an agent, each in a network namespace this
test makes (joined by a veth pair, 192.0.2.1 and 192.0.2.2, documentation
addresses that exist only inside them), set up as Icinga's distributed
monitoring documentation describes: a master zone with the agent's zone below
it, endpoints, certificates signed by the master's CA (``icinga2 pki``), and a
service with ``command_endpoint`` so the agent runs the check. The TLS endpoint
listens on the agent namespace's loopback only, so only a check that really
ran on the agent can reach it: the negative control is the same service
without ``command_endpoint``, which the master runs against its own loopback
and finds nothing. The master's REST API reports state, output, perfdata and
``check_source``.

Both daemons include contrib/icinga/check_cert_validity.conf themselves, as a
host with the package includes /usr/share/check-cert-validity/icinga2/ (the
agent resolves the CheckCommand by name when the master asks it to run it).
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from check_cert_validity.certfactory import issue
from check_cert_validity.loopback import write_pem

from conftest import DAY, NOW, NOW_ARG, ROOT, Installed, daemon_user, readable_tempdir, stop_process

COMMAND = Path(ROOT, "contrib/icinga/check_cert_validity.conf")
MASTER, AGENT = "master.ccv.test", "agent.ccv.test"
ADDRESSES = {MASTER: "192.0.2.1", AGENT: "192.0.2.2"}
API_PORT = 5665
TLS_PORT = 8443  # on the agent namespace's loopback: nothing else is there
API_PASSWORD = "ccv-cluster-test"
DIRS = ("data", "data/certs", "log", "cache", "spool", "run", "zones.d")


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "network namespaces need root"
    needed = (
        ("icinga2", "icinga2"),
        ("ip", "iproute2"),
        ("nsenter", "util-linux"),
        ("openssl", "openssl"),
    )
    for binary, package in needed:
        if not shutil.which(binary):
            return f"{binary} is not installed (Debian package {package})"
    return None


SKIP = _skip_reason()
pytestmark = [pytest.mark.integration, pytest.mark.skipif(SKIP is not None, reason=str(SKIP))]


def run(*argv: str) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{argv} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


class Namespaces:
    """Two network namespaces joined by a veth pair, removed whatever happens."""

    def __init__(self) -> None:
        tag = str(os.getpid())
        self.names = {MASTER: f"ccv-master-{tag}", AGENT: f"ccv-agent-{tag}"}
        self.veth = (f"ccvm{tag}"[:15], f"ccva{tag}"[:15])

    def create(self) -> None:
        for name in self.names.values():
            made = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
            if made.returncode != 0:  # a container without CAP_SYS_ADMIN, say
                pytest.skip(f"cannot make a network namespace here: {made.stderr.strip()}")
        master_end, agent_end = self.veth
        run("ip", "link", "add", master_end, "type", "veth", "peer", "name", agent_end)
        for node, end in ((MASTER, master_end), (AGENT, agent_end)):
            run("ip", "link", "set", end, "netns", self.names[node])
            inside = self.prefix(node)
            run(*inside, "ip", "addr", "add", f"{ADDRESSES[node]}/24", "dev", end)
            run(*inside, "ip", "link", "set", end, "up")
            run(*inside, "ip", "link", "set", "lo", "up")

    def remove(self) -> None:
        for name in self.names.values():  # deleting a namespace deletes its veth end
            subprocess.run(["ip", "netns", "del", name], capture_output=True)

    def prefix(self, node: str) -> list[str]:
        # nsenter only joins the network namespace; ip netns exec (and ip -n)
        # also remounts / and /sys, which fails in a chroot such as the fresh
        # root .ci/other-release runs the suite in
        return ["nsenter", f"--net=/run/netns/{self.names[node]}"]


class Node:
    """One Icinga 2 daemon with its own directories; its checks run as nagios."""

    def __init__(self, top: str, name: str, netns: Namespaces) -> None:
        self.top, self.name, self.netns = top, name, netns
        self.user, self.group = daemon_user()
        entry = pwd.getpwnam(self.user)
        for sub in DIRS:
            os.makedirs(os.path.join(top, sub), exist_ok=True)
            os.chown(os.path.join(top, sub), entry.pw_uid, entry.pw_gid)
        self.defines = [
            f"-DConfiguration.DataDir={top}/data",
            f"-DConfiguration.LogDir={top}/log",
            f"-DConfiguration.CacheDir={top}/cache",
            f"-DConfiguration.SpoolDir={top}/spool",
            f"-DConfiguration.InitRunDir={top}/run",
            f"-DConfiguration.ZonesDir={top}/zones.d",
            f"-DConfiguration.RunAsUser={self.user}",
            f"-DConfiguration.RunAsGroup={self.group}",
        ]
        self.config = os.path.join(top, "icinga2.conf")
        self.out = os.path.join(top, "daemon.out")
        self.proc: subprocess.Popen[bytes] | None = None

    def icinga2(self, *args: str) -> str:
        return run("icinga2", *args, *self.defines)

    def write(self, plugin_dir: str, body: str) -> None:
        shutil.copy(COMMAND, os.path.join(self.top, "cert_validity.conf"))
        zones = f"""
object Endpoint "{MASTER}" {{ }}
object Zone "master" {{ endpoints = [ "{MASTER}" ] }}
object Endpoint "{AGENT}" {{ host = "{ADDRESSES[AGENT]}"; port = "{API_PORT}" }}
object Zone "{AGENT}" {{ endpoints = [ "{AGENT}" ]; parent = "master" }}
"""
        head = f"""
const PluginDir = "/usr/lib/nagios/plugins"
const PluginContribDir = "{plugin_dir}"
const NodeName = "{self.name}"
const ZoneName = "{"master" if self.name == MASTER else AGENT}"
include <itl>
include <plugins>
include "{self.top}/cert_validity.conf"
object IcingaApplication "app" {{ }}
"""
        Path(self.config).write_text(head + zones + body, encoding="utf-8")

    def start(self) -> None:
        with open(self.out, "wb") as out:
            self.proc = subprocess.Popen(
                [
                    *self.netns.prefix(self.name),
                    "icinga2",
                    "daemon",
                    "-c",
                    self.config,
                    *self.defines,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its workers share our process group id: killpg
            )
        deadline = time.monotonic() + 60
        while "Activated all objects" not in self.log():
            assert self.proc.poll() is None, f"icinga2 on {self.name} exited:\n{self.log()}"
            assert time.monotonic() < deadline, (
                f"icinga2 on {self.name} did not start:\n{self.log()}"
            )
            time.sleep(0.1)

    def log(self) -> str:
        return Path(self.out).read_text(encoding="utf-8", errors="replace")

    def cluster_log(self) -> str:
        """The log without the API requests this test makes and the queue statistics."""
        noise = ("HttpServerConnection", "(no client certificate)", "WorkQueue")
        lines = [line for line in self.log().splitlines() if not any(n in line for n in noise)]
        return "\n".join(lines[-60:])

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, 30, group=True)


API_CLIENT = """
import base64, json, ssl, sys, urllib.request
url, password = sys.argv[1], sys.argv[2]
request = urllib.request.Request(url, headers={"Accept": "application/json"})
token = base64.b64encode(("root:" + password).encode()).decode()
request.add_header("Authorization", "Basic " + token)
context = ssl._create_unverified_context()  # the master's certificate is from its own CA
with urllib.request.urlopen(request, context=context, timeout=10) as answer:
    sys.stdout.write(answer.read().decode())
"""


class Cluster:
    def __init__(self, top: str, netns: Namespaces) -> None:
        self.top, self.netns = top, netns
        self.master = Node(os.path.join(top, "master"), MASTER, netns)
        self.agent = Node(os.path.join(top, "agent"), AGENT, netns)
        self.servers: list[subprocess.Popen[bytes]] = []

    def pki(self) -> None:
        """The master's CA signs both nodes' certificates (the documentation's manual way)."""
        self.master.icinga2("pki", "new-ca")
        ca = os.path.join(self.master.top, "data", "ca", "ca.crt")
        for node in (self.master, self.agent):
            certs = os.path.join(node.top, "data", "certs")
            key, csr, crt = (
                os.path.join(certs, f"{node.name}.{ext}") for ext in ("key", "csr", "crt")
            )
            node.icinga2("pki", "new-cert", "--cn", node.name, "--key", key, "--csr", csr)
            self.master.icinga2("pki", "sign-csr", "--csr", csr, "--cert", crt)
            shutil.copy(ca, os.path.join(certs, "ca.crt"))
            entry = pwd.getpwnam(node.user)
            for name in os.listdir(certs):
                os.chown(os.path.join(certs, name), entry.pw_uid, entry.pw_gid)

    def serve_on_agent(self, cert: str, key: str) -> None:
        """openssl s_server on the agent namespace's loopback."""
        with open(os.path.join(self.top, "s_server.log"), "wb") as log:
            proc = subprocess.Popen(
                [*self.netns.prefix(AGENT), "openssl", "s_server", "-quiet",
                 "-accept", f"127.0.0.1:{TLS_PORT}", "-cert", cert, "-key", key],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.servers.append(proc)
        deadline = time.monotonic() + 30
        probe = f"import socket; socket.create_connection(('127.0.0.1', {TLS_PORT}), 1).close()"
        while subprocess.run([*self.netns.prefix(AGENT), sys.executable, "-c", probe],
                             capture_output=True).returncode != 0:  # fmt: skip
            assert proc.poll() is None, "openssl s_server exited"
            assert time.monotonic() < deadline, "openssl s_server did not come up"
            time.sleep(0.1)

    def api(self, path: str) -> dict:
        url = f"https://{ADDRESSES[MASTER]}:{API_PORT}{path}"
        out = run(*self.netns.prefix(MASTER), sys.executable, "-c", API_CLIENT, url, API_PASSWORD)
        return json.loads(out)

    def service(self, host: str, service: str) -> dict:
        found = self.api(f"/v1/objects/services/{host}!{service}")["results"]
        assert len(found) == 1, found
        return found[0]["attrs"]

    def stop(self) -> None:
        for proc in self.servers:
            stop_process(proc)
        for node in (self.agent, self.master):
            node.stop()


@pytest.fixture
def cluster(installed: Installed) -> Iterator[Cluster]:
    top = readable_tempdir("ccv-icinga-cluster-")
    netns = Namespaces()
    made = Cluster(top, netns)
    try:
        netns.create()
        yield made
    finally:
        made.stop()
        netns.remove()
        shutil.rmtree(top, ignore_errors=True)


MASTER_OBJECTS = f"""
object CheckerComponent "checker" {{ }}
object ApiListener "api" {{
  bind_host = "{ADDRESSES[MASTER]}"
  bind_port = {API_PORT}
}}
object ApiUser "root" {{
  password = "{API_PASSWORD}"
  permissions = [ "*" ]
}}
// in the master zone, as if under zones.d/master/ (command_endpoint needs a zone)
object Host "{AGENT}" {{
  zone = "master"
  check_command = "dummy"
  address = "{ADDRESSES[AGENT]}"
  vars.agent_endpoint = name
}}
template Service "cert-on-loopback" {{
  check_command = "cert_validity"
  check_interval = 2s
  retry_interval = 2s
  vars.cert_validity_address = "127.0.0.1"
  vars.cert_validity_port = {TLS_PORT}
  vars.cert_validity_validity = "30d"
  vars.cert_validity_rotation = "20d"
  vars.cert_validity_now = "{NOW_ARG}"
}}
// as the README's rule for files: the agent's own endpoint runs the check
apply Service "cert-agent" {{
  import "cert-on-loopback"
  command_endpoint = host.vars.agent_endpoint
  assign where host.vars.agent_endpoint
}}
// the negative control: the same check, run by the master itself
apply Service "cert-master" {{
  import "cert-on-loopback"
  assign where host.vars.agent_endpoint
}}
"""

AGENT_OBJECTS = f"""
object ApiListener "api" {{
  bind_host = "{ADDRESSES[AGENT]}"
  bind_port = {API_PORT}
  accept_commands = true
  accept_config = false
}}
"""


def wait_for_result(cluster: Cluster, service: str, source: str, timeout: float = 30) -> dict:
    """The service's attributes once a result from ``source`` is in."""
    deadline = time.monotonic() + timeout
    while True:
        attrs = cluster.service(AGENT, service)
        result = attrs.get("last_check_result") or {}
        if result.get("check_source") == source:
            return attrs
        assert time.monotonic() < deadline, (
            f"no result for {service} from {source}: {result}\n"
            f"master:\n{cluster.master.cluster_log()}\nagent:\n{cluster.agent.cluster_log()}"
        )
        time.sleep(0.5)


def test_agent_runs_the_check_and_the_master_api_reports_it(
    cluster: Cluster, installed: Installed
) -> None:
    issued = issue(not_before=NOW - 3 * DAY, not_after=NOW + 27 * DAY, common_name="agent-svc.test")
    cert, key = write_pem(cluster.top, "server", [issued])
    cluster.serve_on_agent(cert, key)
    cluster.pki()
    plugin_dir = os.path.dirname(installed.plugin)
    cluster.master.write(plugin_dir, MASTER_OBJECTS)
    cluster.agent.write(plugin_dir, AGENT_OBJECTS)
    cluster.agent.start()
    cluster.master.start()

    attrs = wait_for_result(cluster, "cert-agent", AGENT)
    result = attrs["last_check_result"]
    assert result["exit_status"] == 0 and attrs["state"] == 0, result
    # Icinga 2 (2.13 and 2.14) keeps the blank before the perfdata's "|" in the output
    assert result["output"].rstrip() == (
        f"CERT_VALIDITY OK - 127.0.0.1:{TLS_PORT} certificate 'agent-svc.test' has 27.0d left"
        " (expires 2026-12-27 12:00 UTC)"
    )
    assert result["performance_data"] == ["time_left=2332800s;864000:2592000;432000:;;2592000"]
    assert result["check_source"] == AGENT

    # Negative control: without command_endpoint the master runs it, in its own
    # namespace, where nothing listens on that loopback port.
    control = wait_for_result(cluster, "cert-master", MASTER)["last_check_result"]
    assert control["exit_status"] == 2, control
    assert (
        control["output"].rstrip()
        == f"CERT_VALIDITY CRITICAL - 127.0.0.1:{TLS_PORT}: connection refused"
    )
