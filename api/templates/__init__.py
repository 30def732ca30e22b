"""The templates resource, ``/v1/templates``: list, read, create, add a version, preview and
validate message templates.

``routes`` holds the endpoints, ``schemas`` their bodies, ``previews`` a stored version rendered as
a send would (the console's preview page uses it too). May import the app's frame (api.auth,
api.deps, api.params, api.isolated) and the journeys library; no other resource's package.
"""
