"""Entry point for ``python -m check_cert_validity``."""

import sys

from check_cert_validity.console import main

sys.exit(main())
