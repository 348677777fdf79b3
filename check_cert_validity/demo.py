"""A throwaway loopback endpoint, so a fresh machine can see a real check.

``python -m check_cert_validity.demo`` issues a short-lived certificate from
a throwaway CA (30 days, 5 days old), serves it on 127.0.0.1, runs the
installed ``check_cert_validity`` against it with ``--validity 30d
--rotation 10d -v``, prints that output and exits with the check's code.
``--serve`` keeps the endpoint up until Ctrl-C for trying options by hand.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from check_cert_validity.certfactory import issue
from check_cert_validity.loopback import TLSServer


def main(argv: Sequence[str] | None = None) -> int:
    """Serve a demo certificate and check it (or keep serving with --serve)."""
    parser = argparse.ArgumentParser(prog="python -m check_cert_validity.demo")
    parser.add_argument("--age", default=5.0, type=float, help="certificate age in days")
    parser.add_argument("--lifetime", default=30.0, type=float, help="lifetime in days")
    parser.add_argument("--serve", action="store_true", help="keep serving until Ctrl-C")
    args = parser.parse_args(argv)

    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=args.age)
    ca = issue(
        common_name="Demo Internal CA",
        ca=True,
        not_before=start - timedelta(days=365),
        not_after=start + timedelta(days=3650),
    )
    leaf = issue(
        common_name="demo.internal",
        sans=("demo.internal", "127.0.0.1"),
        issuer=ca,
        not_before=start,
        not_after=start + timedelta(days=args.lifetime),
    )
    with TLSServer([leaf, ca]) as server:
        if args.serve:
            print(
                f"serving 'demo.internal' on 127.0.0.1:{server.port}; try:\n"
                f"  check_cert_validity -H 127.0.0.1 -p {server.port} -v\nCtrl-C stops."
            )
            try:
                while True:
                    server._thread.join(3600)
            except KeyboardInterrupt:
                return 0
        beside = os.path.join(os.path.dirname(sys.executable), "check_cert_validity")
        script = beside if os.path.exists(beside) else shutil.which("check_cert_validity")
        command = [script] if script else [sys.executable, "-m", "check_cert_validity"]
        command += [
            "-H",
            "127.0.0.1",
            "-p",
            str(server.port),
            "--sni",
            "demo.internal",
            "--validity",
            "30d",
            "--rotation",
            "10d",
            "-v",
        ]
        print(
            "$ " + " ".join(os.path.basename(c) if i == 0 else c for i, c in enumerate(command)),
            flush=True,
        )
        return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
