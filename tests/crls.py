"""CRLs as a CA makes them: ``openssl ca -gencrl`` with exact thisUpdate and nextUpdate.

The real OpenSSL signs them with the test CA's key (``certfactory``), from a
CA directory of its own (an empty index: nothing revoked, which is what a
CRL's times care about). A missing ``openssl`` skips with the package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from datetime import datetime

import pytest

from check_cert_validity.certfactory import Issued

CA_CONFIG = """
[ca]
default_ca = this
[this]
database = {directory}/index.txt
certificate = {directory}/ca.crt
private_key = {directory}/ca.key
crlnumber = {directory}/crlnumber
default_md = sha256
"""


def _openssl_time(moment: datetime) -> str:
    return moment.strftime("%Y%m%d%H%M%SZ")


def gencrl(ca: Issued, this_update: datetime, next_update: datetime, *, pem: bool = False) -> bytes:
    """A CRL of ``ca`` (DER, as distribution points serve it, or PEM)."""
    openssl = shutil.which("openssl")
    if not openssl:
        pytest.skip("openssl is not installed (apt-get install openssl)")
    with tempfile.TemporaryDirectory(prefix="ccv-crl-") as directory:
        for name, content in (
            ("ca.crt", ca.cert_pem()),
            ("ca.key", ca.key_pem()),
            ("index.txt", b""),
            ("crlnumber", b"01\n"),
            ("ca.cnf", CA_CONFIG.format(directory=directory).encode()),
        ):
            with open(os.path.join(directory, name), "wb") as handle:
                handle.write(content)
        out = os.path.join(directory, "ca.crl")
        command = [
            openssl,
            "ca",
            "-batch",
            "-config",
            os.path.join(directory, "ca.cnf"),
            "-gencrl",
            "-crl_lastupdate",
            _openssl_time(this_update),
            "-crl_nextupdate",
            _openssl_time(next_update),
            "-out",
            out,
        ]
        made = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
        assert made.returncode == 0, f"openssl ca -gencrl failed:\n{made.stderr}"
        if not pem:
            der = subprocess.run(
                [openssl, "crl", "-in", out, "-outform", "DER"],
                capture_output=True,
                timeout=30,
                check=True,
            )
            return der.stdout
        with open(out, "rb") as handle:
            return handle.read()
