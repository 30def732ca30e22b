"""The unsubscribe links, ``/u``: RFC 8058 one-click unsubscribe and the preference centre.

Public, like the tracking links: the signed token (:mod:`journeys.delivery.unsubscribe`) is the
credential. ``routes`` holds the endpoints, ``preferences`` what a customer's choices are and the
events a change becomes, ``page`` the server-rendered page. May import the app's frame
(api.deps), the journeys library and :mod:`api.webhooks.publishing`.
"""
