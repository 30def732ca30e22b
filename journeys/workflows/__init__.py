"""Workflow code: deterministic, free of I/O, run inside Temporal's sandbox and replayed.

- ``dsl.py``: the journey declaration (``Journey``, ``@journey``) and its run lifecycle;
- ``waits.py``, ``sends.py``, ``data.py``: the steps by family; ``run.py``: the run's state and
  what every step shares (checkpoints, goals, the run's clock, step ids);
- ``bookkeeping.py``: a run's entry and audit rows, queued and written by one local activity;
- ``interpreter.py``: the one workflow that runs every declarative definition;
- ``inactivity.py``: the inactivity watcher; ``audience.py``: the ``AudienceImport`` workflow;
- ``changes.py``: which runs take each change of the workflow;
- ``seen_ids.py``: the messageIds a run has taken in, so a redelivered event counts once.

May import: ``journeys.contracts`` (every name and payload crossing the boundary), the pure
modules shared by both sides (``journeys.vocabulary``, ``journeys.audit``,
``journeys.workflow_ids``, ``journeys.audiences``), and the pure
parts of ``journeys.definitions`` (document, durations, expressions and their sandbox). Never the
store, the activities, delivery, ingest, nor an I/O library: every side effect is an activity,
called by its name from ``journeys.contracts`` (enforced by import-linter, pyproject.toml).
"""
