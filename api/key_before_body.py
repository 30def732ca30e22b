"""The caller's key is checked before the body of a key-protected route is read.

FastAPI reads and parses a route's body before it solves the route's dependencies, the key
check among them, so without this anyone could make the API read and parse a body as large as
the body limits allow (api/main.py) before being told 401. This pure ASGI middleware answers
401 first, for every route of a router mounted with a key dependency (api/main.py): the
principal it finds is cached on the request (api/auth.py), so the dependencies do not look the
key up twice. The role is checked later by the dependencies, as before; the body limits bound
what a valid key of the wrong role can send.
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from api.auth import current_principal

# Methods whose requests carry a body FastAPI would parse.
_WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class KeyBeforeBody:
    """401 for a request to one of ``routes`` that shows no live key, its body left unread."""

    def __init__(self, app: ASGIApp, routes: Iterable[BaseRoute]) -> None:
        self.app = app
        self.routes = list(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in _WITH_BODY and self._protected(scope):
            request = Request(scope, receive)
            try:
                await current_principal(request)
            except HTTPException as err:
                response = JSONResponse(
                    {"detail": err.detail}, status_code=err.status_code, headers=err.headers
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _protected(self, scope: Scope) -> bool:
        return any(route.matches(scope)[0] is not Match.NONE for route in self.routes)
