"""The privacy routes, under ``/v1/customers``: export everything kept about a customer, and erase
it (their runs' workflows and histories included). Admins only.

``routes`` holds the endpoints, ``schemas`` their bodies. May import the app's frame (api.auth,
api.deps, api.params, api.isolated) and the journeys library; no other resource's package.
"""
