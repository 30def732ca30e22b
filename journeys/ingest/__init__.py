"""Ingest: how events come in and find their journeys.

- ``events.py``: the event envelope (Segment spec) and its NATS subject; ``bus.py``: NATS
  connection, streams, publishing;
- ``pipeline.py``: what one event does, in stages: ``identify.py`` (identity and profile),
  ``consent.py`` (consent and suppressions), ``decide.py`` (which runs to start or signal, from
  ``routing.py``, the index of which journeys an event starts or signals), ``commands.py`` (the
  starts and signals, sent through ``starts.py``, which the audience import uses too);
  ``outages.py``: infrastructure errors, retried without limit;
- ``tracking.py``: signed open/click links; ``webhooks/``: provider webhooks turned into events;
- ``audience_lists.py``: uploaded audience lists, kept in a JetStream object store.

May import contracts, settings, definitions and the store; never ``journeys.workflows``.
"""
