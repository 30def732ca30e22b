"""Logging in and out of the console with an API key.

A person pastes their key once; the console starts a session on the server and answers with a
cookie holding its token, signed and dated (``api.auth.open_console_session``). Every later
request checks the session and its key's row: logging out ends the session on the server (a
copy of the cookie is worthless from then on), and revoking the key ends all of its sessions.
The cookie is HttpOnly, SameSite=Strict, Secure over https, and sent to ``/console`` only, so
the JSON API never accepts it from a browser.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, HTTPException, Request, Response, status
from fastapi.responses import HTMLResponse

from api.auth import (
    SESSION_COOKIE,
    SESSION_MAX_AGE_SECONDS,
    STAFF,
    authenticate,
    end_console_session,
    open_console_session,
    principal_for_key,
)
from api.console import csrf, views
from api.console.access import LOGIN, ConsoleExit, check_form, console_router, not_for_role
from journeys.settings import Settings
from journeys.store.db import Sessions

router = console_router()

HOME = f"{views.PREFIX}/"
MAX_KEY_LENGTH = 200


def safe_next(target: str) -> str:
    """Where to go after login: a console page only, never another site (``//evil``)."""
    prefix = views.PREFIX
    inside = target == prefix or target.startswith((f"{prefix}/", f"{prefix}?"))
    plain = target.isprintable() and not any(c.isspace() or c == "\\" for c in target)
    if inside and plain and not target.startswith(f"{prefix}//"):
        return target
    return HOME


@router.get("/login")
async def login_page(request: Request, next: str = HOME) -> HTMLResponse:
    """The form; a browser without a cookie yet gets a nonce for the form token to sign."""
    nonce = "" if csrf.basis_of(request) else csrf.new_nonce()
    notice = "You are logged out." if "logged_out" in request.query_params else ""
    response = _login_form(request, safe_next(next), basis=nonce, notice=notice)
    if nonce:
        _set_cookie(request, response, csrf.NONCE_COOKIE, nonce, max_age=SESSION_MAX_AGE_SECONDS)
    return response


@router.post("/login")
async def login(
    request: Request,
    key: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form(alias=csrf.FIELD)] = "",
    next: Annotated[str, Form()] = HOME,
) -> Response:
    """Check the pasted key; on success set the session cookie and go where the person was."""
    check_form(request, None, csrf_token)
    target = safe_next(next)
    key = key.strip()
    if not key:
        return _login_form(
            request, target, error="key: paste your API key (jk_...)", status_code=400
        )
    if len(key) > MAX_KEY_LENGTH:
        return _login_form(request, target, error="key: too long to be an API key", status_code=400)
    sessions: Sessions = request.app.state.sessions
    principal = await principal_for_key(sessions, key)
    if principal is None:
        return _login_form(
            request,
            target,
            error="That key is not valid: it is unknown, mistyped or revoked.",
            status_code=status.HTTP_401_UNAUTHORIZED,
        )
    if principal.role not in STAFF:
        return not_for_role(request, principal)
    settings: Settings = request.app.state.settings
    try:
        cookie = await open_console_session(settings, sessions, principal.key_id)
    except HTTPException as err:
        raise ConsoleExit(
            views.problem(request, err.status_code, "Console unavailable", str(err.detail))
        ) from err
    response = views.redirect(target)
    _set_cookie(request, response, SESSION_COOKIE, cookie, max_age=SESSION_MAX_AGE_SECONDS)
    response.delete_cookie(csrf.NONCE_COOKIE, path=views.PREFIX)
    return response


@router.post("/logout")
async def logout(
    request: Request, csrf_token: Annotated[str, Form(alias=csrf.FIELD)] = ""
) -> Response:
    """End the session on the server and forget its cookie here; the key itself stays valid
    until revoked."""
    check_form(request, await authenticate(request), csrf_token)
    if cookie := request.cookies.get(SESSION_COOKIE):
        await end_console_session(request.app.state.settings, request.app.state.sessions, cookie)
    response = views.redirect(f"{LOGIN}?logged_out=1")
    response.delete_cookie(
        SESSION_COOKIE, path=views.PREFIX, httponly=True, samesite="strict", secure=_https(request)
    )
    return response


def _login_form(
    request: Request,
    target: str,
    *,
    basis: str = "",
    error: str = "",
    notice: str = "",
    status_code: int = status.HTTP_200_OK,
) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    basis = basis or csrf.basis_of(request)
    return views.render(
        request,
        "login.html",
        {
            "next": target,
            "error": error,
            "notice": notice,
            "csrf_token": csrf.token_for(settings, basis),
        },
        status_code=status_code,
    )


def _https(request: Request) -> bool:
    return request.url.scheme == "https"


def _set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=views.PREFIX,
        httponly=True,
        samesite="strict",
        secure=_https(request),
    )
