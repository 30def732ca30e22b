"""The timelines, ``/v1/customers/{id}/timeline`` and ``/v1/runs/{run_id}/timeline``: what happened
to a customer or a run, and why, as sentences.

``routes`` holds the endpoints, ``schemas`` their bodies. May import the app's frame (api.auth,
api.deps, api.params, api.isolated) and the journeys library, :mod:`api.contacts` and
:mod:`api.runs` (a run's public form).
"""
