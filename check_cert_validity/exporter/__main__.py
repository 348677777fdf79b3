"""``python -m check_cert_validity.exporter``."""

import sys

from check_cert_validity.exporter.main import main

sys.exit(main())
