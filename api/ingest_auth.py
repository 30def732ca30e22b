"""Write keys for HTTP ingestion, checked the way Segment does: HTTP Basic, key as the username.

With ``write_keys`` empty (the dev default) every request is accepted, and the first one logs a
warning so an unprotected deployment does not go unnoticed. With keys set, a request without a
known key is a 401 carrying ``WWW-Authenticate: Basic`` and nothing of its body is read.

Keys are compared as SHA-256 digests with :func:`hmac.compare_digest`, against every configured
key: the time taken says nothing about how much of a guess was right, nor its length.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging

from fastapi import HTTPException, Request, status
from fastapi.security import HTTPBasic
from starlette.requests import HTTPConnection

from journeys.settings import Settings

log = logging.getLogger(__name__)


class _DocumentedScheme(HTTPBasic):
    """Declares the scheme in OpenAPI and checks nothing: :func:`check_write_key` does, from the
    route class (api/ingest_body.py), before the body is read, which a dependency cannot do."""

    async def __call__(self, request: HTTPConnection) -> None:
        return None


write_key_scheme = _DocumentedScheme(
    scheme_name="writeKey",
    description="The write key as the username, an empty password (as Segment's libraries send).",
    auto_error=False,
)

_warned_open = False


def check_write_key(request: Request) -> None:
    """Raise a 401 unless the request carries one of the configured write keys."""
    settings: Settings = request.app.state.settings
    if not settings.write_keys:
        _warn_open_once()
        return
    key = _basic_username(request.headers.get("authorization", ""))
    if key is None or not _is_known(key, settings):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "a valid write key is required as the HTTP Basic username (empty password)",
            headers={"WWW-Authenticate": 'Basic realm="journeys"'},
        )


def _basic_username(header: str) -> str | None:
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "basic" or not credentials:
        return None
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, _, _password = decoded.partition(":")
    return username or None


def _is_known(key: str, settings: Settings) -> bool:
    digest = hashlib.sha256(key.encode()).digest()
    found = False
    for known in settings.write_keys:
        expected = hashlib.sha256(known.get_secret_value().encode()).digest()
        found |= hmac.compare_digest(digest, expected)
    return found


def _warn_open_once() -> None:
    global _warned_open
    if not _warned_open:
        _warned_open = True
        log.warning("JOURNEYS_WRITE_KEYS is empty: accepting events without a write key")
