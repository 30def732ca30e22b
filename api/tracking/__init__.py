"""The tracking links, ``/t``: the open pixel and the click redirect of tracked emails.

``routes`` holds the endpoints; they publish through :mod:`api.webhooks.publishing`. May import the
app's frame (api.auth, api.deps, api.params, api.isolated) and the journeys library, and
:mod:`api.webhooks.publishing`.
"""
