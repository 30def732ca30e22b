"""Signed open-pixel and click-redirect URLs, tied to one delivery.

The token is an itsdangerous ``URLSafeSerializer`` token of a JSON array (``[delivery_id]`` for an
open, ``[delivery_id, url]`` for a click), HMAC-SHA256 keyed by ``tracking_secret``. Each kind
has its own salt, so an open token can never be replayed as a click token, and the target URL is
inside the signed payload, so the redirect endpoint can only send people where one of our emails
pointed: no open redirect. Tokens do not expire, since an email can be opened months later;
rotating the secret invalidates every link already sent.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from itsdangerous import BadData, URLSafeSerializer

from journeys.ingest.webhooks.errors import NotConfigured, SignatureRejected
from journeys.secret_checks import InsecureSettings, usable_secret
from journeys.settings import Settings

OPEN_PATH = "/t/o"
CLICK_PATH = "/t/c"
_OPEN, _CLICK = "open", "click"
_SALTS = {_OPEN: "journeys.tracking.open", _CLICK: "journeys.tracking.click"}


class InvalidToken(SignatureRejected):
    """Not a token we issued, or one altered since."""


@dataclass(frozen=True)
class ClickTarget:
    delivery_id: int
    url: str


def open_pixel_url(settings: Settings, delivery_id: int) -> str:
    """The URL of the 1x1 image whose loading reports the delivery's email as opened."""
    return f"{base_url(settings)}{OPEN_PATH}/{_sign(settings, _OPEN, [_checked_id(delivery_id)])}"


def click_url(settings: Settings, delivery_id: int, url: str) -> str:
    """A link that reports the click on ``url`` in the delivery's email, then goes there."""
    token = _sign(settings, _CLICK, [_checked_id(delivery_id), _checked_url(url)])
    return f"{base_url(settings)}{CLICK_PATH}/{token}"


def verify_open_token(settings: Settings, token: str) -> int:
    """The delivery id an open token was issued for; :class:`InvalidToken` otherwise."""
    payload = _verify(settings, _OPEN, token)
    if len(payload) != 1:
        raise InvalidToken("malformed open token")
    return _valid_id(payload[0])


def verify_click_token(settings: Settings, token: str) -> ClickTarget:
    """The delivery and target of a click token; :class:`InvalidToken` otherwise."""
    payload = _verify(settings, _CLICK, token)
    if len(payload) != 2 or not isinstance(payload[1], str):
        raise InvalidToken("malformed click token")
    try:
        url = _checked_url(payload[1])
    except ValueError as err:
        raise InvalidToken(str(err)) from err
    return ClickTarget(_valid_id(payload[0]), url)


def open_message_id(delivery_id: int, at: datetime) -> str:
    """One "Email Opened" per delivery per minute: mail clients reload images freely."""
    return f"open:{delivery_id}:{int(at.timestamp()) // 60}"


def click_message_id(target: ClickTarget, at: datetime) -> str:
    """One click per link per minute: a double click, or a scanner and the person, count once."""
    link = hashlib.sha256(target.url.encode()).hexdigest()[:16]
    return f"click:{target.delivery_id}:{link}:{int(at.timestamp()) // 60}"


def base_url(settings: Settings) -> str:
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/")
    return f"http://{settings.api_host}:{settings.api_port}"


def tracking_key(settings: Settings) -> bytes:
    """The secret, refused in every environment when empty, short or a published placeholder:
    a known key would let anyone mint click tokens to any URL."""
    try:
        return usable_secret(settings, "tracking_secret")
    except InsecureSettings as err:
        raise NotConfigured(str(err)) from err


def _serializer(key: bytes, kind: str) -> URLSafeSerializer:
    return URLSafeSerializer(
        key,
        salt=_SALTS[kind],
        signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha256},
    )


def _sign(settings: Settings, kind: str, payload: list[Any]) -> str:
    return _serializer(tracking_key(settings), kind).dumps(payload)


def _verify(settings: Settings, kind: str, token: str) -> list[Any]:
    key = tracking_key(settings)  # NotConfigured before judging any token
    serializer = _serializer(key, kind)
    try:
        payload = serializer.loads(token)
    except BadData:
        payload = _legacy_verify(key, kind, token)
    else:
        # base64 ignores a last character's spare bits: only the form we issue is accepted,
        # so a token has exactly one spelling.
        if serializer.dumps(payload) != token:
            raise InvalidToken("not a token in the form we issue")
    if not isinstance(payload, list):
        raise InvalidToken("malformed token")
    return payload


# Links sent before tracking tokens were signed with itsdangerous (December 2026) are still in
# inboxes: the token was ``<base64url JSON>.<base64url HMAC-SHA256 of "journeys-tracking-v1|"
# kind "|" payload>``. Remove this fallback after 2027-06-30, six months of opens and clicks.
_LEGACY_MAC_CONTEXT = b"journeys-tracking-v1"


def _legacy_verify(key: bytes, kind: str, token: str) -> Any:
    body, dot, mac = token.partition(".")
    if not dot or not body:
        raise InvalidToken("malformed token")
    try:
        given = _legacy_b64decode(mac)
    except ValueError as err:
        raise InvalidToken("malformed token") from err
    if not hmac.compare_digest(given, _legacy_mac(key, kind, body)):
        raise InvalidToken("token signature does not match")
    try:
        return json.loads(_legacy_b64decode(body))
    except ValueError as err:
        raise InvalidToken("malformed token") from err


def _legacy_mac(key: bytes, kind: str, body: str) -> bytes:
    message = b"|".join((_LEGACY_MAC_CONTEXT, kind.encode(), body.encode()))
    return hmac.new(key, message, hashlib.sha256).digest()


def _legacy_b64decode(text: str) -> bytes:
    """Strict: only the canonical spelling of the bytes, so a token has exactly one form."""
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as err:
        raise ValueError("not base64url") from err
    if base64.urlsafe_b64encode(data).rstrip(b"=").decode() != text:
        raise ValueError("not canonical base64url")
    return data


def _checked_id(delivery_id: int) -> int:
    if isinstance(delivery_id, bool) or not isinstance(delivery_id, int) or delivery_id <= 0:
        raise ValueError(f"not a delivery id: {delivery_id!r}")
    return delivery_id


def _valid_id(value: Any) -> int:
    try:
        return _checked_id(value)
    except ValueError as err:
        raise InvalidToken(str(err)) from err


def _checked_url(url: str) -> str:
    """Only absolute http(s) links: never ``javascript:`` or a scheme-relative surprise."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not an absolute http(s) URL: {url[:200]!r}")
    return url
