"""The long-running processes: the Temporal worker, the JetStream router, the dev stack, the CLI.

- ``worker.py``: the Temporal worker (workflows, and activities built with their clients);
- ``router.py``: the JetStream consumer (leases in ``partitions.py``, fetch, ack, dead letters),
  each event handed to ``journeys.ingest.pipeline``;
- ``dev.py``, ``servers.py``: ``journeys dev`` and the embedded Temporal and NATS servers;
- ``cli.py``: the ``journeys`` command; ``keys.py``, ``migrate.py``: its key and migration steps;
- ``bench/``: ``journeys bench``.

Processes, not library: may import ``journeys`` (and ``cli.py`` launches ``api`` by its import
string); ``journeys`` imports none of this package but for the test kit's worker and migration.
"""
