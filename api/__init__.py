"""The HTTP face of Journeys: event ingestion, journey definitions and customer histories.

The app's frame sits at this package's root, because every resource uses it:
:mod:`api.main` (the app: mounts each resource's router with who may use it),
:mod:`api.lifespan` (opens and closes the clients), :mod:`api.deps` (the request dependencies:
settings, sessions, NATS, JetStream, Temporal) and :mod:`api.params` (the parameter types and
input rules the resources share), :mod:`api.auth` (API keys, roles, console sessions),
:mod:`api.key_before_body` (the middleware that checks a key before a body is read),
:mod:`api.temporal_connection` and :mod:`api.isolated` (checks run in a child process).
Routes take their dependencies from :mod:`api.deps` and :mod:`api.params` only.

Then one package per resource, each with ``routes`` (its router) and ``schemas`` (its bodies),
plus the helpers that belong to it alone: :mod:`api.events` (ingestion), :mod:`api.webhooks`
and :mod:`api.tracking` (delivery events in), :mod:`api.journeys`, :mod:`api.templates`,
:mod:`api.runs`, :mod:`api.customers`, :mod:`api.timelines`, :mod:`api.audiences`,
:mod:`api.analytics`, :mod:`api.privacy`, :mod:`api.keys`, :mod:`api.operator_log`,
:mod:`api.health`. :mod:`api.contacts` holds what several share: contact details masked and
customers named by reference. :mod:`api.console` is the server-rendered console.

What may import what: the frame imports no resource (but :mod:`api.main`, which mounts them); a
resource imports the frame, the journeys library, :mod:`api.contacts`, and another resource's
package only where its ``__init__`` says so (customers and timelines show runs through
:mod:`api.runs`; tracking publishes through :mod:`api.webhooks`); nothing but :mod:`api.main`
imports :mod:`api.console`, which may import the resources' helpers (never their routes).
"""
