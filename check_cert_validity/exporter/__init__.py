"""The Prometheus exporter: the plugin's judgement served continuously, for a fleet.

``/probe?target=HOST[:PORT]&module=NAME`` answers with exactly the text
``check_cert_validity --output openmetrics`` prints for the same endpoint and
options; a StatsD loop sends the same gauges for listed targets. One process
runs every probe on one asyncio event loop (the handshake core is sans-IO),
with one TLS context per module.

Modules: ``config`` (YAML), ``targets`` (``target`` and ``allowed_targets``),
``prober`` (one probe), ``exposition`` (its text), ``http`` (the server),
``handlers`` (the routes and the running state), ``landing`` (the page),
``selfmetrics`` (``/metrics``), ``statsd_loop``, ``main`` (flags, signals).
"""
