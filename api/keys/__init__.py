"""The keys resource, ``/v1/keys``: create, list and revoke API keys. Admins only.

``routes`` holds the endpoints, ``schemas`` their bodies. May import the app's frame (api.auth,
api.deps, api.params, api.isolated) and the journeys library; no other resource's package.
"""
