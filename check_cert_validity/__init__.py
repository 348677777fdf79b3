"""check_cert_validity: a Nagios/Icinga plugin watching how long a served TLS
certificate has left, judged against the rotation it should follow.

The version lives here and nowhere else (setup.cfg reads it with ``attr:``).
"""

__version__ = "0.1.0"
