"""The README's first command: the demo serves a certificate and checks it."""

import subprocess
import sys


def test_demo_runs_a_real_check() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "check_cert_validity.demo"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert lines[0].startswith("$ check_cert_validity -H 127.0.0.1 -p ")
    assert lines[1].startswith("CERT_VALIDITY OK - 127.0.0.1:")
    assert "certificate 'demo.internal' has 25.0d left" in lines[1]
    assert "issuer: CN=Demo Internal CA,O=check_cert_validity test" in lines
