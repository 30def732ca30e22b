"""Who is calling, and may they: API keys with roles on every route but the public few.

A caller proves who they are in one of three ways, all checked against the same key rows
(:mod:`journeys.store.api_keys`):

- ``Authorization: Bearer jk_<id>_<secret>``, for scripts and services;
- HTTP Basic with the key as the username and an empty password, as Segment's libraries send a
  write key; the ``write_keys`` setting's keys are accepted here too, as ``ingest`` keys;
- the console's session cookie, signed, holding a server-side session of a key that logged in
  (``api/console/``, :mod:`journeys.store.console_sessions`), ended by logging out.

Each router is mounted with :func:`allow` (``api/main.py``): reads (GET, HEAD) by one set of
roles, changes by another; ``admin`` may do anything. No key is 401, a key of the wrong role
is 403; a revoked key is no key. Public routes (health, open and click tracking, the providers'
signed webhooks) are mounted without it.

Key rows are cached for a few seconds per process so that ingestion does not read the store on
every event; a revoked key therefore stops working within ``KEY_CACHE_SECONDS``. Console
sessions are not cached: a logout ends one at once, in every API process.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from cachetools import TTLCache
from fastapi import Depends, HTTPException, Request, status
from fastapi.params import Depends as DependsParam
from fastapi.security import APIKeyCookie, HTTPBasic, HTTPBearer
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from journeys.secret_checks import InsecureSettings, usable_secret
from journeys.settings import Settings
from journeys.store import api_keys, console_sessions
from journeys.store.api_keys import Role
from journeys.store.base import utcnow
from journeys.store.db import Sessions
from journeys.store.models import ApiKey
from journeys.store.operator_log import record_action

ADMINS: tuple[Role, ...] = ("admin",)
EDITORS: tuple[Role, ...] = ("admin", "editor")
STAFF: tuple[Role, ...] = ("admin", "editor", "support")
INGEST: tuple[Role, ...] = ("admin", "ingest")

KEY_CACHE_SECONDS = 5.0
LAST_USED_PRECISION = timedelta(minutes=5)
SESSION_COOKIE = "journeys_session"
CONSOLE_PREFIX = "/console"
SESSION_MAX_AGE_SECONDS = 12 * 3600
_READS = {"GET", "HEAD", "OPTIONS"}

log = logging.getLogger(__name__)

# Declared for OpenAPI (and its "Authorize" button); the checking is done by authenticate().
bearer_scheme = HTTPBearer(
    scheme_name="apiKey", description="An API key: `Bearer jk_<id>_<secret>`.", auto_error=False
)
basic_scheme = HTTPBasic(
    scheme_name="writeKey",
    description="A write key or API key as the username, an empty password (as Segment sends).",
    auto_error=False,
)
cookie_scheme = APIKeyCookie(
    name=SESSION_COOKIE,
    scheme_name="consoleSession",
    description="The console's login.",
    auto_error=False,
)


@dataclass(frozen=True)
class Principal:
    """The caller: which key (``key_id``, or ``write-key`` for a configured write key), whose
    (``name``), and its role."""

    key_id: str
    name: str
    role: Role

    @property
    def sees_contacts(self) -> bool:
        """Email addresses and phone numbers are shown in full to admins only."""
        return self.role == "admin"


# Key hash -> its principal, or None for a key that is unknown or revoked: a miss is kept too,
# so a flood of wrong keys does not become a flood of queries.
_cache: TTLCache[str, Principal | None] = TTLCache(
    maxsize=10_000, ttl=KEY_CACHE_SECONDS, timer=time.monotonic
)


async def _through_cache(
    cache_key: str, load: Callable[[], Awaitable[ApiKey | None]]
) -> Principal | None:
    """The principal of the key row ``load`` finds, remembered for KEY_CACHE_SECONDS."""
    with contextlib.suppress(KeyError):  # not cached, or expired
        return _cache[cache_key]
    row = await load()
    principal = None if row is None else Principal(row.id, row.name, row.role)  # type: ignore[arg-type]
    _cache[cache_key] = principal
    return principal


async def principal_for_key(sessions: Sessions, key: str) -> Principal | None:
    """The live key's principal."""

    async def load() -> ApiKey | None:
        async with sessions() as session:
            row = await api_keys.find_key(session, key)
            if row is not None:
                await _note_use(session, row)
            return row

    return await _through_cache(hashlib.sha256(key.encode()).hexdigest(), load)


async def _note_use(session: AsyncSession, row: ApiKey) -> None:
    """Keep ``last_used_at`` to within :data:`LAST_USED_PRECISION`, so an admin can tell a key
    nobody uses from one a producer depends on before revoking it. Written on cache misses only,
    at most once per that precision; a failed write costs the caller nothing."""
    now = utcnow()
    if row.last_used_at is not None and now - row.last_used_at < LAST_USED_PRECISION:
        return
    row.last_used_at = now
    try:
        await session.commit()
    except SQLAlchemyError as err:
        log.warning("could not note the use of key %s: %s", row.id, err)
        await session.rollback()


def forget_cached_keys() -> None:
    """Drop the cache, so a key revoked in this process stops working at once."""
    _cache.clear()


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    """Refused in every environment while the secret is unfit (journeys/secret_checks.py): a
    known key would let anyone sign a session."""
    try:
        secret = usable_secret(settings, "console_secret")
    except InsecureSettings as err:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"the console is off: {err}"
        ) from err
    return URLSafeTimedSerializer(secret, salt="console")


async def open_console_session(settings: Settings, sessions: Sessions, key_id: str) -> str:
    """The console cookie for a key that logged in: a new server-side session's token, signed
    and dated. Never the key itself (a cookie seen once must not be a key for ever); logging
    out, the cookie's age or the key's revocation ends the session."""
    serializer = _serializer(settings)
    async with sessions.begin() as session:
        token = await console_sessions.start_session(
            session, key_id, timedelta(seconds=SESSION_MAX_AGE_SECONDS)
        )
    return serializer.dumps(token)


async def end_console_session(settings: Settings, sessions: Sessions, cookie: str) -> None:
    """Log out: the cookie's session ends on the server, in every copy of the cookie."""
    token = _session_token(settings, cookie)
    if token is not None:
        async with sessions.begin() as session:
            await console_sessions.end_session(session, token)


def _session_token(settings: Settings, cookie: str) -> str | None:
    try:
        value = _serializer(settings).loads(cookie, max_age=SESSION_MAX_AGE_SECONDS)
    except BadSignature:
        return None
    return value if isinstance(value, str) else None


async def principal_for_session(sessions: Sessions, token: str) -> Principal | None:
    """The principal of a live console session whose key is live. Read on every console
    request, uncached, so a logout or a revocation ends the session at once everywhere."""
    async with sessions() as session:
        key_id = await console_sessions.live_session_key(session, token)
        row = None if key_id is None else await session.get(ApiKey, key_id)
    if row is None or row.revoked_at is not None:
        return None
    return Principal(row.id, row.name, row.role)  # type: ignore[arg-type]


def _is_write_key(key: str, settings: Settings) -> bool:
    digest = hashlib.sha256(key.encode()).digest()
    found = False
    for known in settings.write_keys:
        expected = hashlib.sha256(known.get_secret_value().encode()).digest()
        found |= hmac.compare_digest(digest, expected)
    return found


def _basic_username(header: str) -> str | None:
    try:
        decoded = base64.b64decode(header.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, _, _password = decoded.partition(":")
    return username or None


async def authenticate(request: Request) -> Principal | None:
    """The caller's principal from header or cookie, or None when they showed no live key."""
    settings: Settings = request.app.state.settings
    sessions: Sessions = request.app.state.sessions
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    key: str | None = None
    if scheme.lower() == "bearer":
        key = credentials.strip() or None
    elif scheme.lower() == "basic":
        key = _basic_username(credentials)
        if key is not None and _is_write_key(key, settings):
            return Principal("write-key", "configured write key", "ingest")
    elif request.url.path.startswith(CONSOLE_PREFIX) and (
        cookie := request.cookies.get(SESSION_COOKIE)
    ):
        # The cookie opens the console only: API routes take keys in headers, which a page of
        # another site cannot make a browser send, so they need no CSRF defence of their own.
        token = _session_token(settings, cookie)
        return None if token is None else await principal_for_session(sessions, token)
    if key is None:
        return None
    return await principal_for_key(sessions, key)


def unauthorized() -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "an API key is required: `Authorization: Bearer jk_...` (or a write key as the HTTP "
        "Basic username for ingestion)",
        headers={"WWW-Authenticate": 'Bearer realm="journeys", Basic realm="journeys"'},
    )


def forbidden(principal: Principal, allowed: Collection[Role]) -> HTTPException:
    return HTTPException(
        status.HTTP_403_FORBIDDEN,
        f"key {principal.key_id!r} has role {principal.role!r}; this needs one of: "
        + ", ".join(allowed),
    )


async def current_principal(request: Request) -> Principal:
    """The caller, or 401. Routes take it as :data:`PrincipalDep` to mask or log by who asks."""
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    principal = await authenticate(request)
    if principal is None:
        raise unauthorized()
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def check_role(principal: Principal, allowed: Collection[Role]) -> None:
    if principal.role != "admin" and principal.role not in allowed:
        raise forbidden(principal, allowed)


def allow(*, read: Collection[Role], write: Collection[Role]) -> DependsParam:
    """A router dependency: reads need one of ``read``, anything else one of ``write``."""

    async def check(request: Request, principal: PrincipalDep) -> None:
        check_role(principal, read if request.method in _READS else write)

    dependency: DependsParam = Depends(check)
    return dependency


def only(*roles: Role) -> DependsParam:
    """A route dependency for a route stricter than its router (erasure: admins only)."""

    async def check(principal: PrincipalDep) -> None:
        check_role(principal, roles)

    dependency: DependsParam = Depends(check)
    return dependency


async def check_ingest(request: Request) -> None:
    """Ingestion's check, run by its route class before the body is read (api/events/body.py)."""
    principal = await current_principal(request)
    check_role(principal, INGEST)


async def log_change(
    session: AsyncSession,
    principal: Principal,
    *,
    action: str,
    target: str,
    detail: dict[str, Any] | None = None,
) -> None:
    """The operator-log row of a change ``principal`` made: its key id and name say who."""
    await record_action(
        session,
        actor=principal.key_id,
        actor_name=principal.name,
        action=action,
        target=target,
        detail=detail,
    )
