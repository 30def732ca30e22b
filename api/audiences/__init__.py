"""The audiences resource, ``/v1/audiences``: upload a list of customers into a journey (CSV or
JSON), and follow its import.

``routes`` holds the endpoints, ``schemas`` their bodies. May import the app's frame (api.auth,
api.deps, api.params, api.isolated) and the journeys library, and :mod:`api.contacts` (uploads name
customers).
"""
