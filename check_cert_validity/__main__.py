"""Entry point for ``python -m check_cert_validity``."""

import sys

from check_cert_validity.cli import console_main

sys.exit(console_main())
