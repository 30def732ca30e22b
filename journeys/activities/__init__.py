"""Activities: the I/O of journeys, each class taking its clients in ``__init__``.

- ``runs.py``: a run's bookkeeping (entry, audit, progress, exit rows); ``send.py``: its sends;
  ``journey.py``: the two as the one ``JourneyActivities`` the worker registers;
- ``steps.py``: traits, local send windows, emitted events, webhook calls, conversions;
- ``compliance.py``: the compliance check before a send (consent, quiet hours, caps);
- ``audience.py``: an audience import's batches entering customers into a journey.

Registered under the names in ``journeys.contracts``. May import the store, delivery, ingest,
definitions and contracts; never ``journeys.workflows`` (enforced by import-linter).
"""
