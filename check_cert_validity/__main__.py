"""Entry point for ``python -m check_cert_validity``."""

import sys

from check_cert_validity.cli import main

sys.exit(main())
