"""SMS through the Twilio Messages REST API (or anything speaking its shape, e.g. a test server).

One ``httpx.AsyncClient`` per provider keeps connections to the API open between messages. The
provider message id is Twilio's message ``sid``, which its status callbacks carry too.
"""

from __future__ import annotations

from typing import Any

import httpx

from journeys.delivery.channels.base import DeliveryReceipt, OutboundMessage
from journeys.delivery.channels.errors import PermanentDeliveryError, PermanentKind
from journeys.delivery.channels.http_errors import status_error, transport_error
from journeys.settings import Settings

# Twilio error codes (https://www.twilio.com/docs/api/errors) that say something about the
# recipient rather than about us; any other 4xx is a plain "rejected".
ERROR_KINDS: dict[int, PermanentKind] = {
    21211: "invalid_address",  # invalid 'To' phone number
    21217: "invalid_address",  # phone number does not appear to be valid
    21401: "invalid_address",  # invalid phone number
    21614: "invalid_address",  # 'To' number is not a valid mobile number
    21610: "unsubscribed",  # the recipient replied STOP
    21408: "unreachable",  # sending to this region is not enabled
    21612: "unreachable",  # the 'To' number cannot be reached from the 'From' number
}


class TwilioProvider:
    name = "twilio"

    def __init__(self, settings: Settings) -> None:
        self.account_sid = settings.twilio_account_sid
        self.from_number = settings.twilio_from_number
        self.messaging_service_sid = settings.twilio_messaging_service_sid
        self.status_callback_url = settings.twilio_status_callback_url
        self.path = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        self.client = httpx.AsyncClient(
            base_url=settings.twilio_base_url.rstrip("/"),
            auth=httpx.BasicAuth(self.account_sid, settings.twilio_auth_token.get_secret_value()),
            timeout=httpx.Timeout(settings.twilio_timeout_seconds),
            headers={"User-Agent": "journeys"},
        )

    @staticmethod
    def problems(settings: Settings) -> list[str]:
        """What stops this provider from working, checked at start-up rather than at send."""
        found = []
        if not settings.twilio_account_sid:
            found.append("JOURNEYS_TWILIO_ACCOUNT_SID is required")
        if not settings.twilio_auth_token.get_secret_value():
            found.append("JOURNEYS_TWILIO_AUTH_TOKEN is required")
        if not (settings.twilio_from_number or settings.twilio_messaging_service_sid):
            found.append(
                "JOURNEYS_TWILIO_FROM_NUMBER or JOURNEYS_TWILIO_MESSAGING_SERVICE_SID is required"
            )
        return found

    async def deliver(self, message: OutboundMessage) -> DeliveryReceipt:
        if not message.text:
            raise PermanentDeliveryError("an SMS needs a text body", kind="invalid_message")
        try:
            response = await self.client.post(self.path, data=self._form(message))
        except httpx.TransportError as err:
            raise transport_error("twilio", err) from err
        body = _json(response)
        if response.status_code in (200, 201) and isinstance(body.get("sid"), str):
            return DeliveryReceipt(provider_message_id=body["sid"])
        if response.is_success:
            # Possibly sent, but unmatchable: not retried, since a retry might send it twice.
            reason = f"twilio: HTTP {response.status_code} without a message sid; not retried"
            raise PermanentDeliveryError(reason, kind="rejected")
        code = body.get("code")
        detail = f"{code} {body.get('message', '')}".strip() if code else response.text[:200]
        kind = ERROR_KINDS.get(code, "rejected") if isinstance(code, int) else "rejected"
        raise status_error("twilio", response, detail, kind) from None

    def _form(self, message: OutboundMessage) -> dict[str, str]:
        form = {"To": message.recipient, "Body": message.text or ""}
        if self.messaging_service_sid:
            form["MessagingServiceSid"] = self.messaging_service_sid
        else:
            form["From"] = self.from_number
        if self.status_callback_url:
            form["StatusCallback"] = _with_delivery_id(self.status_callback_url, message)
        return form

    async def aclose(self) -> None:
        await self.client.aclose()


def _with_delivery_id(url: str, message: OutboundMessage) -> str:
    """The status callback tells us which delivery it is about without a lookup by sid."""
    if message.delivery_id is None:
        return url
    return str(httpx.URL(url).copy_merge_params({"journeys_delivery_id": message.delivery_id}))


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
