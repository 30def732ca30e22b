"""The analytics resource, ``/v1/analytics``: a journey's numbers, lift and time series.

``routes`` holds the endpoints, ``schemas`` their bodies. May import the app's frame (api.auth,
api.deps, api.params, api.isolated) and the journeys library; no other resource's package.
"""
