"""The webhook channel: the message as signed JSON, POSTed to the customer's (or our) URL.

The receiver checks the Standard Webhooks signature (or, for one more release, the old
``X-Journeys-Signature``; see ``signing.py``) and drops repeats by ``webhook-id`` or the
``Idempotency-Key`` header: both are the message's idempotency key, the same across our retries.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import httpx

from journeys.delivery.channels.base import DeliveryReceipt, OutboundMessage
from journeys.delivery.channels.errors import PermanentDeliveryError
from journeys.delivery.channels.http_errors import status_error, transport_error
from journeys.delivery.channels.signing import (
    ID_HEADER,
    SIGNATURE_HEADER,
    STANDARD_SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signed_headers,
)
from journeys.delivery.channels.targets import Resolver, resolve_target, system_resolver
from journeys.secret_checks import secret_problem
from journeys.settings import Settings

# Headers the provider sets; a message's own headers never replace them.
_OWN_HEADERS = {
    "host",
    "content-type",
    "content-length",
    "idempotency-key",
    ID_HEADER,
    TIMESTAMP_HEADER,
    STANDARD_SIGNATURE_HEADER,
    SIGNATURE_HEADER.lower(),
}


class WebhookProvider:
    name = "webhook"

    def __init__(self, settings: Settings, resolver: Resolver | None = None) -> None:
        # Used when the profile has no webhook URL of its own (see the activity).
        self.default_recipient = settings.webhook_url or None
        self.secret_problem = secret_problem("webhook_secret", settings.webhook_secret)
        self.secret = settings.webhook_secret.get_secret_value().encode()
        self.allow_private = settings.webhook_allow_private_targets
        self.resolver = resolver or system_resolver
        # No keep-alive: requests go to a pinned address, and a pooled TLS connection verified
        # for one host name must not carry a request for another name on the same address.
        # No environment proxies and no redirects, which would bypass the target check.
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.webhook_timeout_seconds),
            limits=httpx.Limits(max_keepalive_connections=0),
            follow_redirects=False,
            trust_env=False,
        )

    @staticmethod
    def problems(settings: Settings) -> list[str]:
        """What stops this provider from working, checked at start-up rather than at send."""
        problem = secret_problem("webhook_secret", settings.webhook_secret)
        return [] if problem is None else [f"{problem} (receivers verify the signature)"]

    async def deliver(self, message: OutboundMessage) -> DeliveryReceipt:
        url = message.recipient or self.default_recipient
        if not url:
            raise PermanentDeliveryError("no webhook URL", kind="invalid_address")
        response = await self.post_json(
            url, _payload(message, url), message.idempotency_key, message.headers
        )
        if not response.is_success:
            raise status_error("webhook", response, response.text[:200])
        digest = hashlib.sha256(message.idempotency_key.encode()).hexdigest()[:16]
        return DeliveryReceipt(provider_message_id=f"webhook-{digest}")

    async def post_json(
        self,
        url: str,
        payload: dict[str, Any],
        idempotency_key: str,
        extra_headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """POST ``payload`` signed, to a target that passed the address check; the response
        whatever its status (transport failures raise the channel's classified errors). Never
        signed with an unfit key: a receiver would accept anyone's forgery as ours."""
        if self.secret_problem is not None:
            raise PermanentDeliveryError(
                f"not signing the call: {self.secret_problem}", kind="unauthorized"
            )
        target = await resolve_target(url, allow_private=self.allow_private, resolver=self.resolver)
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {
            **{k: v for k, v in (extra_headers or {}).items() if k.lower() not in _OWN_HEADERS},
            "Host": target.host_header,
            "Content-Type": "application/json",
            "User-Agent": "journeys-webhook",
            "Idempotency-Key": idempotency_key,
            **signed_headers(self.secret, idempotency_key, body),
        }
        return await self._post(target.urls, target.sni_hostname, headers, body)

    async def _post(
        self, urls: list[httpx.URL], sni: str, headers: dict[str, str], body: bytes
    ) -> httpx.Response:
        """POST to the first address that accepts a connection; only a refused connect moves
        on to the next, since after that the request may have been received."""
        for index, url in enumerate(urls):
            try:
                return await self.client.post(
                    url, content=body, headers=headers, extensions={"sni_hostname": sni}
                )
            except httpx.ConnectError as err:
                if index == len(urls) - 1:
                    raise transport_error("webhook", err) from err
            except httpx.TransportError as err:
                raise transport_error("webhook", err) from err
        raise AssertionError("resolve_target returns at least one address")

    async def aclose(self) -> None:
        await self.client.aclose()


def _payload(message: OutboundMessage, url: str) -> dict[str, Any]:
    return {
        "id": message.idempotency_key,
        "channel": message.channel,
        "recipient": url,
        "delivery_id": message.delivery_id,
        "customer_id": message.customer_id,
        "subject": message.subject,
        "text": message.text,
        "html": message.html,
        "metadata": dict(message.metadata),
    }
