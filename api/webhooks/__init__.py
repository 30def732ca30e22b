"""The providers' webhooks, ``/v1/webhooks``: SendGrid's and Twilio's delivery events, verified,
kept and published.

``routes`` holds the endpoints, ``schemas`` their body, ``publishing`` the steps they share with the
tracking links (:mod:`api.tracking`): refusals, keeping and publishing delivery events. May import
the app's frame (api.auth, api.deps, api.params, api.isolated) and the journeys library; no other
resource's package.
"""
