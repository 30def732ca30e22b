"""The SQLAlchemy store: definitions, customers, runs, deliveries and the audit trail.

- ``base.py``, ``models.py``, ``db.py``: the declarative base (with the vocabulary's column type),
  the typed models, the engine and sessions; ``schema.py``: the schema migrated with Alembic;
- one repository module per kind of row: ``customers.py`` (profiles and identity),
  ``definitions.py``, ``runs.py``, ``consent.py``, ``templates.py``, ``audiences.py``,
  ``api_keys.py``, ``console_sessions.py``, ``operator_log.py``; ``customer_search.py``;
  ``erasure.py`` (a customer's export and erasure).

The bottom layer: may import the settings, ``journeys.contracts``, ``journeys.vocabulary``,
``journeys.audit`` and the shared pure data (``workflow_ids``, ``audiences``); never workflow code,
activities, ingest, delivery, definitions or read models, but for the few rules it applies on
write, listed one by one as ignored imports of the ``store-below`` contract (pyproject.toml).
"""
