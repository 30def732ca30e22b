"""SMS to a local server speaking the Twilio Messages API: auth, form fields, every answer."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qsl

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from journeys.delivery.channels import (
    OutboundMessage,
    PermanentDeliveryError,
    RetryableDeliveryError,
)
from journeys.delivery.channels.twilio import TwilioProvider
from tests.support.helpers import free_port
from tests.support.local_servers import serve_app, settings

SID = "AC0123456789abcdef0123456789abcdef"
TOKEN = "twilio-auth-token"

# The answer the fake Twilio gives, chosen by the destination number.
ANSWERS: dict[str, tuple[int, dict[str, Any], dict[str, str]]] = {
    "+15550000429": (429, {"code": 20429, "message": "Too Many Requests"}, {"Retry-After": "7"}),
    "+15550000400": (
        400,
        {"code": 21211, "message": "The 'To' number +15550000400 is not a valid phone number."},
        {},
    ),
    "+15550000610": (400, {"code": 21610, "message": "Attempt to send to unsubscribed"}, {}),
    "+15550000500": (500, {"code": 20500, "message": "Internal Server Error"}, {}),
}


class FakeTwilio:
    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []

    async def messages(self, request: Request) -> Response:
        expected = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return JSONResponse({"code": 20003, "message": "Authenticate"}, status_code=401)
        if request.path_params["sid"] != SID:
            return JSONResponse({"code": 20404, "message": "Not found"}, status_code=404)
        assert request.headers["content-type"] == "application/x-www-form-urlencoded"
        form = dict(parse_qsl((await request.body()).decode(), strict_parsing=True))
        self.requests.append(form)
        if form["To"] in ANSWERS:
            status, body, headers = ANSWERS[form["To"]]
            return JSONResponse(body | {"status": status}, status_code=status, headers=headers)
        sid = f"SM{len(self.requests):032d}"
        return JSONResponse({"sid": sid, "status": "queued", "to": form["To"]}, status_code=201)


@pytest.fixture
async def twilio() -> AsyncIterator[tuple[FakeTwilio, str]]:
    fake = FakeTwilio()
    app = Starlette(
        routes=[Route("/2010-04-01/Accounts/{sid}/Messages.json", fake.messages, methods=["POST"])]
    )
    async with serve_app(app) as url:
        yield fake, url


Factory = Callable[..., TwilioProvider]


@pytest.fixture
async def provider() -> AsyncIterator[Factory]:
    """Builds providers like the worker does (base URL first) and closes them afterwards."""
    built: list[TwilioProvider] = []

    def build(base_url: str, **extra: Any) -> TwilioProvider:
        values: dict[str, Any] = {
            "twilio_base_url": base_url,
            "twilio_account_sid": SID,
            "twilio_auth_token": TOKEN,
            "twilio_from_number": "+15559990000",
            "twilio_timeout_seconds": 5,
        }
        built.append(TwilioProvider(settings(**(values | extra))))
        return built[-1]

    yield build
    for each in built:
        await each.aclose()


def sms(to: str = "+15550000001", **extra: Any) -> OutboundMessage:
    values: dict[str, Any] = {
        "channel": "sms",
        "recipient": to,
        "subject": None,
        "text": "Your cart is waiting: https://shop.example/cart",
        "html": None,
        "idempotency_key": "run-1:sms",
        "delivery_id": 7,
    }
    return OutboundMessage(**(values | extra))


async def test_sms_is_posted_with_auth_and_form_fields(
    twilio: tuple[FakeTwilio, str], provider: Factory
) -> None:
    fake, url = twilio
    sender = provider(url, twilio_status_callback_url="https://journeys.example.com/hooks/twilio")
    receipt = await sender.deliver(sms())
    assert receipt.provider_message_id == f"SM{1:032d}"
    assert fake.requests == [
        {
            "To": "+15550000001",
            "From": "+15559990000",
            "Body": "Your cart is waiting: https://shop.example/cart",
            "StatusCallback": "https://journeys.example.com/hooks/twilio?journeys_delivery_id=7",
        }
    ]


async def test_a_messaging_service_replaces_from(
    twilio: tuple[FakeTwilio, str], provider: Factory
) -> None:
    fake, url = twilio
    sender = provider(url, twilio_messaging_service_sid="MG123", twilio_from_number="")
    await sender.deliver(sms())
    assert fake.requests[0]["MessagingServiceSid"] == "MG123"
    assert "From" not in fake.requests[0]
    assert "StatusCallback" not in fake.requests[0]


async def test_429_is_retryable_with_its_retry_after(
    twilio: tuple[FakeTwilio, str], provider: Factory
) -> None:
    _, url = twilio
    with pytest.raises(RetryableDeliveryError) as error:
        await provider(url).deliver(sms("+15550000429"))
    assert error.value.retry_after == 7.0
    assert "429" in error.value.reason


async def test_invalid_to_number_is_a_permanent_invalid_address(
    twilio: tuple[FakeTwilio, str], provider: Factory
) -> None:
    _, url = twilio
    with pytest.raises(PermanentDeliveryError) as error:
        await provider(url).deliver(sms("+15550000400"))
    assert error.value.kind == "invalid_address"
    assert "21211" in error.value.reason


async def test_an_unsubscribed_number_is_permanent(
    twilio: tuple[FakeTwilio, str], provider: Factory
) -> None:
    _, url = twilio
    with pytest.raises(PermanentDeliveryError) as error:
        await provider(url).deliver(sms("+15550000610"))
    assert error.value.kind == "unsubscribed"


async def test_500_is_retryable(twilio: tuple[FakeTwilio, str], provider: Factory) -> None:
    _, url = twilio
    with pytest.raises(RetryableDeliveryError) as error:
        await provider(url).deliver(sms("+15550000500"))
    assert error.value.retry_after is None


async def test_wrong_credentials_are_permanent_unauthorized(
    twilio: tuple[FakeTwilio, str], provider: Factory
) -> None:
    fake, url = twilio
    with pytest.raises(PermanentDeliveryError) as error:
        await provider(url, twilio_auth_token="wrong").deliver(sms())
    assert error.value.kind == "unauthorized"
    assert fake.requests == []


async def test_connection_refused_is_retryable(provider: Factory) -> None:
    with pytest.raises(RetryableDeliveryError, match="ConnectError"):
        await provider(f"http://127.0.0.1:{free_port()}").deliver(sms())


async def test_an_sms_without_text_is_permanent(
    twilio: tuple[FakeTwilio, str], provider: Factory
) -> None:
    fake, url = twilio
    with pytest.raises(PermanentDeliveryError) as error:
        await provider(url).deliver(sms(text=None, html="<p>only html</p>"))
    assert error.value.kind == "invalid_message"
    assert fake.requests == []
