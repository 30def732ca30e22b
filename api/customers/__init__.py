"""The customers resource, ``/v1/customers``: find a customer, and what ran for them.

``routes`` holds the endpoints, ``schemas`` their bodies. May import the app's frame (api.auth,
api.deps, api.params, api.isolated) and the journeys library, :mod:`api.contacts` and
:mod:`api.runs` (a run's public form, its current step).
"""
