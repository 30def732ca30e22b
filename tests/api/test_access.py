"""Every route of the app against the access table below: who may read, who may change.

The table is written out here, not imported from ``api/main.py``, so that a change of policy is a
change of this test too, and a route the table does not know fails the test: a new route cannot
ship unprotected by accident. For each route and method: no key is a 401, a key of a role not
allowed is a 403, an allowed role is neither, and a revoked key is no key.

Requests carry no body: the key is checked before the body is read or validated (a POST without
its body from an allowed role gets a 422, from anyone else a 401 or 403).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from api.main import create_app
from journeys.settings import Settings
from journeys.store.api_keys import ROLES, Role, revoke_key, split_key
from tests.support.api import bearer, make_key


@dataclass(frozen=True)
class Policy:
    """``read``: roles allowed GET; ``write``: roles allowed anything else. ``public``: no key
    asked (the route checks a signature, a token or a login of its own, or nothing)."""

    read: tuple[Role, ...] = ()
    write: tuple[Role, ...] = ()
    public: bool = False

    def allows(self, role: Role, method: str) -> bool:
        return role in (self.read if method == "GET" else self.write)


PUBLIC = Policy(public=True)
INGEST = Policy(read=("admin", "ingest"), write=("admin", "ingest"))
STAFF_READ_EDITORS_WRITE = Policy(read=("admin", "editor", "support"), write=("admin", "editor"))
ADMINS_ONLY = Policy(read=("admin",), write=("admin",))

# Path prefix (path parameters written `{}`) -> policy; the longest matching prefix decides.
ACCESS: dict[str, Policy] = {
    "/health": PUBLIC,
    "/t": PUBLIC,  # open pixel and click redirect: signed tokens
    "/u": PUBLIC,  # one-click unsubscribe and the preference centre: signed tokens
    "/v1/webhooks": PUBLIC,  # the providers' signatures
    "/console": PUBLIC,  # its own login (a signed cookie), tested in tests/api/console/
    **{
        f"/v1/{call}": INGEST
        for call in ("track", "identify", "page", "screen", "group", "alias", "batch")
    },
    "/v1/journeys": STAFF_READ_EDITORS_WRITE,
    "/v1/templates": STAFF_READ_EDITORS_WRITE,
    "/v1/customers": STAFF_READ_EDITORS_WRITE,
    "/v1/customers/{}/timeline": STAFF_READ_EDITORS_WRITE,
    "/v1/customers/{}/export": ADMINS_ONLY,  # privacy: contact details and all
    "/v1/customers/{}/erase": ADMINS_ONLY,
    "/v1/runs": STAFF_READ_EDITORS_WRITE,
    "/v1/runs/{}/timeline": STAFF_READ_EDITORS_WRITE,
    "/v1/audiences": STAFF_READ_EDITORS_WRITE,
    "/v1/analytics": STAFF_READ_EDITORS_WRITE,
    "/v1/keys": ADMINS_ONLY,
    "/v1/operator-log": ADMINS_ONLY,
}
# Served by FastAPI itself, not by a router: the schema and its viewers.
DOCS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}

_PARAMETER = re.compile(r"\{[^}]*\}")


def policy_of(path: str) -> Policy | None:
    shape = _PARAMETER.sub("{}", path)
    matches = [p for p in ACCESS if shape == p or shape.startswith(p.rstrip("/") + "/")]
    return ACCESS[max(matches, key=len)] if matches else None


def all_routes(app: FastAPI) -> Iterator[tuple[BaseRoute, str, set[str]]]:
    """(route, full path, methods) for every route the app serves, however deeply included.

    Since FastAPI 0.137 ``app.routes`` holds one opaque entry per included router;
    ``iter_route_contexts`` resolves them with their prefixes, as the OpenAPI schema does.
    """
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # an older FastAPI, whose app.routes are flat
        for route in app.routes:
            yield route, getattr(route, "path", ""), set(getattr(route, "methods", None) or ())
        return
    for context in iter_route_contexts(app.routes):
        yield context.original_route, context.path or "", set(context.methods or ())


def api_routes(app: FastAPI) -> list[tuple[str, str]]:
    return sorted(
        (path, method)
        for route, path, methods in all_routes(app)
        if isinstance(route, APIRoute)
        for method in methods
    )


def test_every_route_is_in_the_access_table() -> None:
    app = create_app(Settings())
    routes = api_routes(app)

    known = {("/health", "GET"), ("/v1/track", "POST"), ("/v1/keys/{key_id}", "DELETE")}
    assert known <= set(routes), "the enumeration reaches into the included routers"
    assert len(routes) > 30, f"only {len(routes)} routes found: is the enumeration still deep?"
    missing = sorted({path for path, _method in routes if policy_of(path) is None})
    assert missing == [], f"routes with no expected access policy in this test: {missing}"
    others = [
        path
        for route, path, _methods in all_routes(app)
        if not isinstance(route, APIRoute) and path not in DOCS and not path.startswith("/console")
    ]
    assert others == [], f"routes outside FastAPI's routing (no key checked): {others}"


# -- every route, every role ----------------------------------------------------------------------


def refused_by_key_check(response: httpx.Response) -> bool:
    """True when the API-key check (api/auth.py) refused, rather than the route itself (a
    webhook's missing signature is a 401 of its own)."""
    if response.status_code == 401:
        return 'realm="journeys"' in response.headers.get("www-authenticate", "")
    if response.status_code == 403:
        try:
            detail = response.json().get("detail", "")
        except ValueError:
            return False
        return isinstance(detail, str) and "this needs one of" in detail
    return False


def concrete(path: str) -> str:
    return _PARAMETER.sub("access-check", path)


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app and a client sending no key of its own; a route's crash is its 500, not ours."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield app, client


async def test_each_route_refuses_a_missing_key_a_revoked_one_and_the_wrong_role(
    api_settings: Settings,
) -> None:
    async with running(api_settings) as (app, client):
        keys = {role: await make_key(app, role) for role in ROLES}
        revoked = await make_key(app, "admin", "revoked admin")
        async with app.state.sessions() as session:
            await revoke_key(session, (split_key(revoked) or ("", ""))[0])
            await session.commit()

        wrong: list[str] = []
        checked = 0
        for path, method in api_routes(app):
            policy = policy_of(path)
            assert policy is not None, path
            url = concrete(path)

            async def call(key: str | None) -> httpx.Response:
                headers = {} if key is None else bearer(key)
                return await client.request(method, url, headers=headers)  # noqa: B023

            anonymous = await call(None)
            if policy.public:
                if refused_by_key_check(anonymous):
                    wrong.append(f"{method} {path} is public, yet asked for a key")
                continue
            checked += 1
            for who, response in (("no key", anonymous), ("a revoked key", await call(revoked))):
                if not (response.status_code == 401 and refused_by_key_check(response)):
                    wrong.append(f"{method} {path} with {who}: {response.status_code}, not 401")
            for role, key in keys.items():
                response = await call(key)
                if policy.allows(role, method):
                    if response.status_code in (401, 403):
                        wrong.append(f"{method} {path} refused {role}: {response.text[:200]}")
                elif not (response.status_code == 403 and refused_by_key_check(response)):
                    wrong.append(f"{method} {path} as {role}: {response.status_code}, not 403")

    assert wrong == [], "\n".join(wrong)
    assert checked > 20, "the protected routes were checked"
