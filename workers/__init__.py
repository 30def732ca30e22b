"""The long-running processes: the Temporal worker, the JetStream router, the dev stack, the CLI.

- ``worker.py``: the Temporal worker process, serving what ``journeys.worker_assembly`` builds;
- ``router.py``: the JetStream consumer (leases in ``partitions.py``, fetch, ack, dead letters),
  each event handed to ``journeys.ingest.pipeline``;
- ``dev.py``, ``servers.py``: ``journeys dev`` and the embedded Temporal and NATS servers;
- ``cli.py``: the ``journeys`` command; ``keys.py``: its key commands;
- ``bench/``: ``journeys bench``.

Processes, not library: may import ``journeys`` (and ``cli.py`` launches ``api`` by its import
string); ``journeys`` imports none of this package (enforced by import-linter).
"""
