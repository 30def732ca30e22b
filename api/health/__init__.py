"""The health check, ``/health``: is each dependency (database, NATS, Temporal) reachable.

``routes`` holds the endpoint, ``schemas`` its body. May import the app's frame (api.auth, api.deps,
api.params, api.isolated) and the journeys library; no other resource's package.
"""
