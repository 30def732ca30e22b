"""Ingest: how events come in and find their journeys.

- ``events.py``: the event envelope (Segment spec) and its NATS subject; ``bus.py``: NATS
  connection, streams, publishing; ``routing.py``: the router's index (which journeys an event
  starts or signals); ``outages.py``: infrastructure errors, retried without limit;
- ``tracking.py``: signed open/click links; ``webhooks/``: provider webhooks turned into events;
- ``audience_lists.py``: uploaded audience lists, kept in a JetStream object store.

May import contracts, settings, definitions and the store; never ``journeys.workflows``.
"""
