"""The operator log, ``/v1/operator-log``: every change made by hand, who and when. Admins only.

``routes`` holds the endpoint, ``schemas`` its body. May import the app's frame (api.auth, api.deps,
api.params, api.isolated) and the journeys library; no other resource's package.
"""
