"""The runs resource, ``/v1/runs``, and a run as every route shows it.

``routes`` holds the endpoints (find runs, cancel one or many, send an event by hand), ``schemas``
their bodies, ``control`` the changes themselves (cancel, signal; each logged in the operator log),
``out`` a run's public form (:class:`~api.runs.out.RunOut`, masked by
:func:`~api.runs.out.shown_run`, with its Temporal UI link), ``current_steps`` where each active run
is now. The customers, timelines and console packages import ``out``, ``control`` and
``current_steps``. May import the app's frame (api.auth, api.deps, api.params, api.isolated) and the
journeys library, and :mod:`api.contacts`.
"""
