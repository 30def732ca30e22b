"""Event ingestion, ``/v1/track``, ``/v1/identify``, ... and ``/v1/batch``: Segment's HTTP Tracking
API, published to JetStream.

``routes`` holds the endpoints, ``schemas`` the bodies as producers send them, ``body`` the route
class that checks the key and reads the body within its limits (gzip included). May import the app's
frame (api.auth, api.deps, api.params, api.isolated) and the journeys library; no other resource's
package.
"""
