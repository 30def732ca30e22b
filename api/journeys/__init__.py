"""The journeys resource, ``/v1/journeys``: list and read journeys, edit and publish declarative
ones, pause, resume, archive, diff versions.

``routes`` holds the endpoints, ``schemas`` their bodies, ``reading`` the parse of a definition from
a request body (JSON or YAML, in a child process, within budgets). May import the app's frame
(api.auth, api.deps, api.params, api.isolated) and the journeys library; no other resource's
package.
"""
