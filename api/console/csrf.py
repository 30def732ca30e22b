"""Proof that a console form was posted from a console page: a token in every form.

The session cookie goes with every request to the console, a forged one from another site too
(SameSite=Strict keeps modern browsers from sending it, but the console does not rely on that
alone). A forger cannot read our pages, so a token only our pages carry tells the two apart:
the signature of the cookie the browser holds (itsdangerous, HMAC-SHA256 with the console
secret), never the cookie itself, which is HttpOnly. Before login the basis is a
random nonce cookie set by the login page, so the login form is protected the same way.
"""

from __future__ import annotations

import hashlib
import secrets

from fastapi import HTTPException, Request, status
from itsdangerous import Signer

from api.auth import SESSION_COOKIE
from journeys.secret_checks import InsecureSettings, usable_secret
from journeys.settings import Settings

NONCE_COOKIE = "journeys_console_nonce"
FIELD = "csrf"
# Keeps these signatures apart from anything else the console secret signs (its sessions).
SALT = "console-form"


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


def token_for(settings: Settings, basis: str) -> str:
    """The form token for a cookie value; none for an empty one (no cookie, nothing to forge)."""
    if not basis:
        return ""
    signer = _signer(settings)
    return signer.algorithm.get_signature(signer.derive_key(), basis.encode()).hex()


def basis_of(request: Request) -> str:
    """The cookie a form of this request is bound to: the session's, else the login nonce."""
    return request.cookies.get(SESSION_COOKIE) or request.cookies.get(NONCE_COOKIE) or ""


def request_token(request: Request) -> str:
    settings: Settings = request.app.state.settings
    return token_for(settings, basis_of(request))


def is_valid(request: Request, submitted: str) -> bool:
    basis = basis_of(request)
    if not basis:
        return False
    settings: Settings = request.app.state.settings
    signer = _signer(settings)
    try:
        signature = bytes.fromhex(submitted)
    except ValueError:
        return False
    return signer.algorithm.verify_signature(signer.derive_key(), basis.encode(), signature)


def _signer(settings: Settings) -> Signer:
    """HMAC-SHA256 with a key derived from the console secret for forms only (the salt); refused
    (503) while the secret is unfit to sign with. Tokens are the signature alone, in hex: the
    value signed is the cookie, which the page must not carry."""
    try:
        secret = usable_secret(settings, "console_secret")
    except InsecureSettings as err:
        detail = f"the console is off: {err}"
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail) from err
    return Signer(secret, salt=SALT, key_derivation="hmac", digest_method=hashlib.sha256)
