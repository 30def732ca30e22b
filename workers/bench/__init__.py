"""`journeys bench`: our pipeline measured against raw Temporal and raw NATS on the same servers.

Modules: ``config`` (run sizes), ``stack`` (servers, store, worker and router processes),
``journeys`` and ``trivial`` (the workflows measured; ``raw_worker`` hosts the trivial one),
``raw_temporal`` and ``raw_nats`` (the baselines), ``non_matching`` and ``matching`` (our
figures), ``memory`` and ``cpu`` (RSS and CPU per process), ``publishing``, ``draining``,
``progress`` and ``stats`` (helpers), ``report`` (ratios, targets, tables, JSON, PNG) and
``runner`` (the phases in order). docs/scaling.md explains the figures.

Nothing heavy is imported here: the worker's workflow sandbox re-imports ``journeys`` and
``trivial``, and with them this package.
"""
