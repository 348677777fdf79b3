"""A real nginx (Debian's package) on free loopback ports, serving files over HTTP and HTTPS.

``Nginx`` writes its own configuration and prefix into a temp directory,
runs the daemon in the foreground as the tests' child (one process, no
workers to switch users to), listens on 127.0.0.1 and, where the machine has
it, ::1, for http and https alike, and stops when closed. ``locations`` is
server-block text the test adds (redirects, rate limits, filters); ``{http}``
and ``{https}`` in it become the ports, ``{www}`` the document root. A missing binary skips with the
package to install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest

from check_cert_validity.certfactory import Issued
from check_cert_validity.loopback import write_pem

from conftest import free_port, has_ipv6_loopback, stop_process, wait_for_port

CONFIG = """
daemon off;
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/temp/body;
    proxy_temp_path {prefix}/temp/proxy;
    fastcgi_temp_path {prefix}/temp/fastcgi;
    uwsgi_temp_path {prefix}/temp/uwsgi;
    scgi_temp_path {prefix}/temp/scgi;
    types {{ application/pkix-crl crl; text/plain txt; text/html html; }}
    default_type application/octet-stream;
    server {{
{listen}
        ssl_certificate {cert};
        ssl_certificate_key {key};
        root {prefix}/www;
{locations}
    }}
}}
"""


def nginx_binary() -> str:
    """The nginx to start, or skip saying which package brings it."""
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None
    )
    if not found:
        pytest.skip("nginx is not installed (apt-get install nginx)")
    return found


class Nginx:
    """nginx serving ``files`` (name -> bytes, or an int: a sparse file that big)."""

    def __init__(self, server: Issued, files: dict[str, bytes | int], locations: str = "") -> None:
        binary = nginx_binary()
        self.prefix = tempfile.mkdtemp(prefix="ccv-nginx-")
        self.ipv6 = has_ipv6_loopback()
        self.http, self.https = free_port(), free_port()
        try:
            self._start(binary, server, files, locations)
        except BaseException:
            shutil.rmtree(self.prefix, ignore_errors=True)
            raise

    def _start(
        self, binary: str, server: Issued, files: dict[str, bytes | int], locations: str
    ) -> None:
        www = os.path.join(self.prefix, "www")
        os.makedirs(os.path.join(self.prefix, "temp"))
        for name, content in files.items():
            path = os.path.join(www, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as handle:
                if isinstance(content, int):
                    handle.truncate(content)  # sparse: no disk, however big
                else:
                    handle.write(content)
        cert, key = write_pem(self.prefix, "server", [server])
        hosts = ["127.0.0.1", "[::1]"] if self.ipv6 else ["127.0.0.1"]
        listen = "\n".join(
            f"        listen {host}:{port}{' ssl' if port == self.https else ''};"
            for host in hosts
            for port in (self.http, self.https)
        )
        config = os.path.join(self.prefix, "nginx.conf")
        with open(config, "w") as handle:
            handle.write(
                CONFIG.format(
                    prefix=self.prefix,
                    listen=listen,
                    cert=cert,
                    key=key,
                    locations=locations.replace("{http}", str(self.http))
                    .replace("{https}", str(self.https))
                    .replace("{www}", www),
                )
            )
        self.log = os.path.join(self.prefix, "error.log")
        with open(os.path.join(self.prefix, "stdout.log"), "wb") as out:
            # -e: the startup error log too, before the configuration is read
            # (the default under /var/log may not be writable, nor wanted)
            self.proc = subprocess.Popen(
                [binary, "-p", self.prefix, "-c", config, "-e", self.log],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        stdout = os.path.join(self.prefix, "stdout.log")
        wait_for_port(self.http, timeout=30, proc=self.proc, logs=(self.log, stdout))
        wait_for_port(self.https, timeout=30, proc=self.proc, logs=(self.log, stdout))

    def url(self, path: str, *, https: bool = False, host: str = "127.0.0.1") -> str:
        """A URL of this server (``host`` ``[::1]`` or ``localhost`` for the other names)."""
        scheme, port = ("https", self.https) if https else ("http", self.http)
        return f"{scheme}://{host}:{port}/{path.lstrip('/')}"

    def close(self) -> None:
        stop_process(self.proc)
        shutil.rmtree(self.prefix, ignore_errors=True)
