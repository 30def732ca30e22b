"""Proof that a console form was posted from a console page: a token in every form.

The session cookie goes with every request to the console, a forged one from another site too
(SameSite=Strict keeps modern browsers from sending it, but the console does not rely on that
alone). A forger cannot read our pages, so a token only our pages carry tells the two apart:
the HMAC of the cookie the browser holds, with the console secret. Before login the basis is a
random nonce cookie set by the login page, so the login form is protected the same way.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import HTTPException, Request, status

from api.auth import SESSION_COOKIE
from journeys.secret_checks import InsecureSettings, usable_secret
from journeys.settings import Settings

NONCE_COOKIE = "journeys_console_nonce"
FIELD = "csrf"


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


def token_for(settings: Settings, basis: str) -> str:
    """The form token for a cookie value; none for an empty one (no cookie, nothing to forge)."""
    if not basis:
        return ""
    try:
        secret = usable_secret(settings, "console_secret")
    except InsecureSettings as err:
        detail = f"the console is off: {err}"
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail) from err
    return hmac.new(secret, f"console-form:{basis}".encode(), hashlib.sha256).hexdigest()


def basis_of(request: Request) -> str:
    """The cookie a form of this request is bound to: the session's, else the login nonce."""
    return request.cookies.get(SESSION_COOKIE) or request.cookies.get(NONCE_COOKIE) or ""


def request_token(request: Request) -> str:
    settings: Settings = request.app.state.settings
    return token_for(settings, basis_of(request))


def is_valid(request: Request, submitted: str) -> bool:
    expected = request_token(request)
    return bool(expected) and hmac.compare_digest(expected.encode(), submitted.encode())
