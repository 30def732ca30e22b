"""The webhook channel: signed JSON to a real receiver, and no way into private networks."""

from __future__ import annotations

import ipaddress
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import standardwebhooks
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from journeys.delivery.channels import (
    ID_HEADER,
    SIGNATURE_HEADER,
    STANDARD_SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    OutboundMessage,
    PermanentDeliveryError,
    RetryableDeliveryError,
    standard_secret,
    verify_signature,
)
from journeys.delivery.channels.signing import sign, signed_headers
from journeys.delivery.channels.targets import Resolver, forbidden
from journeys.delivery.channels.webhook import WebhookProvider
from tests.support.helpers import free_port
from tests.support.local_servers import serve_app, settings

SECRET = "whsec-test-0123456789"


class Receiver:
    """What a customer's endpoint does: verify the raw body's signature before trusting it."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.calls = 0

    async def hook(self, request: Request) -> Response:
        self.calls += 1
        body = await request.body()
        if not verify_signature(SECRET, request.headers.get(SIGNATURE_HEADER), body):
            return JSONResponse({"error": "bad signature"}, status_code=401)
        self.received.append((dict(request.headers), json.loads(body)))
        return JSONResponse({"ok": True})

    async def standard(self, request: Request) -> Response:
        """A receiver that knows only the Standard Webhooks library and the ``whsec_`` secret."""
        self.calls += 1
        body = await request.body()
        try:
            payload = standardwebhooks.Webhook(standard_secret(SECRET)).verify(
                body, dict(request.headers)
            )
        except standardwebhooks.WebhookVerificationError:
            return JSONResponse({"error": "bad signature"}, status_code=401)
        self.received.append((dict(request.headers), payload))
        return JSONResponse({"ok": True})

    async def busy(self, request: Request) -> Response:
        return Response(status_code=503, headers={"Retry-After": "2"})

    async def moved(self, request: Request) -> Response:
        return RedirectResponse("http://169.254.169.254/latest/meta-data/", status_code=302)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    endpoint = Receiver()
    app = Starlette(
        routes=[
            Route("/hook", endpoint.hook, methods=["POST"]),
            Route("/standard", endpoint.standard, methods=["POST"]),
            Route("/busy", endpoint.busy, methods=["POST"]),
            Route("/moved", endpoint.moved, methods=["POST"]),
        ]
    )
    async with serve_app(app) as url:
        yield endpoint, url


Factory = Callable[..., WebhookProvider]


@pytest.fixture
async def provider() -> AsyncIterator[Factory]:
    built: list[WebhookProvider] = []

    def build(resolver: Resolver | None = None, **extra: Any) -> WebhookProvider:
        values: dict[str, Any] = {"webhook_secret": SECRET, "webhook_timeout_seconds": 5}
        built.append(WebhookProvider(settings(**(values | extra)), resolver=resolver))
        return built[-1]

    yield build
    for each in built:
        await each.aclose()


def message(url: str, **extra: Any) -> OutboundMessage:
    values: dict[str, Any] = {
        "channel": "webhook",
        "recipient": url,
        "subject": "Cart reminder",
        "text": "Your cart is waiting",
        "html": None,
        "idempotency_key": "run-1:hook",
        "delivery_id": 9,
        "customer_id": "c-ada",
        "metadata": {"journey": "cart_recovery"},
        "headers": {"X-Tenant": "shop", "Idempotency-Key": "spoofed"},
    }
    return OutboundMessage(**(values | extra))


def static(mapping: dict[str, list[str]]) -> Resolver:
    """A resolver with fixed answers, standing in for DNS names this machine cannot look up."""

    async def resolve(host: str, port: int) -> list[str]:
        return mapping[host]

    return resolve


async def test_signed_json_arrives_and_verifies(
    receiver: tuple[Receiver, str], provider: Factory
) -> None:
    endpoint, url = receiver
    hooks = provider(webhook_allow_private_targets=True)
    receipt = await hooks.deliver(message(f"{url}/hook"))
    again = await hooks.deliver(message(f"{url}/hook"))

    assert receipt == again
    assert receipt.provider_message_id.startswith("webhook-")
    (headers, body), (headers_again, _) = endpoint.received
    assert body == {
        "id": "run-1:hook",
        "channel": "webhook",
        "recipient": f"{url}/hook",
        "delivery_id": 9,
        "customer_id": "c-ada",
        "subject": "Cart reminder",
        "text": "Your cart is waiting",
        "html": None,
        "metadata": {"journey": "cart_recovery"},
    }
    assert headers["idempotency-key"] == headers_again["idempotency-key"] == "run-1:hook"
    assert headers["x-tenant"] == "shop"
    assert headers["content-type"] == "application/json"
    assert headers[SIGNATURE_HEADER.lower()].startswith("t=")


async def test_the_configured_url_serves_profiles_without_one(
    receiver: tuple[Receiver, str], provider: Factory
) -> None:
    endpoint, url = receiver
    hooks = provider(webhook_allow_private_targets=True, webhook_url=f"{url}/hook")
    assert hooks.default_recipient == f"{url}/hook"
    await hooks.deliver(message(""))
    assert len(endpoint.received) == 1


async def test_a_host_name_is_pinned_to_its_checked_address(
    receiver: tuple[Receiver, str], provider: Factory
) -> None:
    endpoint, url = receiver
    port = url.rsplit(":", 1)[1]
    hooks = provider(
        resolver=static({"hooks.shop.test": ["127.0.0.1"]}), webhook_allow_private_targets=True
    )
    await hooks.deliver(message(f"http://hooks.shop.test:{port}/hook"))
    [(headers, _)] = endpoint.received
    assert headers["host"] == f"hooks.shop.test:{port}"


def test_verify_signature_refuses_tampering_other_secrets_and_old_timestamps() -> None:
    body = b'{"id":"run-1:hook","text":"hi"}'
    header = sign(SECRET, body)
    assert verify_signature(SECRET, header, body)
    assert not verify_signature(SECRET, header, body.replace(b"hi", b"ho"))
    assert not verify_signature("another-secret", header, body)
    old = sign(SECRET, body, timestamp=int(time.time()) - 600)
    assert not verify_signature(SECRET, old, body)
    assert verify_signature(SECRET, old, body, tolerance=None)
    assert not verify_signature(SECRET, "garbage", body)
    assert not verify_signature(SECRET, None, body)
    # During a secret rotation the sender may add a v1 per secret; one match is enough.
    t = header.split(",")[0]
    rotated = (
        f"{t},v1={sign('old-secret', body, int(t[2:])).split('v1=')[1]},{header.split(',')[1]}"
    )
    assert verify_signature(SECRET, rotated, body)


async def test_a_standard_webhooks_receiver_accepts_our_request(
    receiver: tuple[Receiver, str], provider: Factory
) -> None:
    """Receivers verify with any Standard Webhooks library; ``webhook-id`` is the idempotency
    key on every retry, and the old header still comes along for receivers not yet migrated."""
    endpoint, url = receiver
    hooks = provider(webhook_allow_private_targets=True)
    spoofing = {"webhook-id": "spoofed", "Webhook-Signature": "v1,c3Bvb2ZlZA=="}
    await hooks.deliver(message(f"{url}/standard", headers=spoofing))
    await hooks.deliver(message(f"{url}/standard"))

    (headers, body), (headers_again, _) = endpoint.received
    assert body["id"] == "run-1:hook"
    assert headers[ID_HEADER] == headers_again[ID_HEADER] == "run-1:hook"
    assert headers[STANDARD_SIGNATURE_HEADER].startswith("v1,")
    old = headers[SIGNATURE_HEADER.lower()]
    assert old.startswith(f"t={headers[TIMESTAMP_HEADER]},v1=")
    assert verify_signature(SECRET, old, json.dumps(body, separators=(",", ":")).encode())
    assert standard_secret(SECRET).startswith("whsec_")


def test_verify_signature_accepts_either_header_set() -> None:
    body = b'{"id":"run-1:hook","text":"hi"}'
    every = signed_headers(SECRET, "run-1:hook", body)
    standard = {k: v for k, v in every.items() if k != SIGNATURE_HEADER}
    old = {SIGNATURE_HEADER: every[SIGNATURE_HEADER]}
    for headers in (every, standard, old, {k.title(): v for k, v in standard.items()}):
        assert verify_signature(SECRET, headers, body)
        assert not verify_signature(SECRET, headers, body.replace(b"hi", b"ho"))
        assert not verify_signature("another-secret", headers, body)
    assert not verify_signature(SECRET, {}, body)
    assert not verify_signature(SECRET, standard | {ID_HEADER: "run-2:hook"}, body)
    assert not verify_signature(SECRET, standard | {TIMESTAMP_HEADER: "soon"}, body)
    stale = signed_headers(SECRET, "run-1:hook", body, timestamp=int(time.time()) - 600)
    assert not verify_signature(SECRET, stale, body)
    assert verify_signature(SECRET, stale, body, tolerance=None)
    # During a secret rotation the sender may add a signature per secret; one match is enough.
    other = signed_headers("old-secret", "run-1:hook", body, int(every[TIMESTAMP_HEADER]))
    rotated = f"{other[STANDARD_SIGNATURE_HEADER]} {every[STANDARD_SIGNATURE_HEADER]}"
    assert verify_signature(SECRET, standard | {STANDARD_SIGNATURE_HEADER: rotated}, body)
    assert standardwebhooks.Webhook(standard_secret(SECRET)).verify(body, standard) == {
        "id": "run-1:hook",
        "text": "hi",
    }


async def test_a_wrong_secret_is_refused_by_the_receiver(
    receiver: tuple[Receiver, str], provider: Factory
) -> None:
    endpoint, url = receiver
    hooks = provider(webhook_allow_private_targets=True, webhook_secret="not-the-receivers")
    with pytest.raises(PermanentDeliveryError) as refused:
        await hooks.deliver(message(f"{url}/hook"))
    assert refused.value.kind == "unauthorized"
    assert endpoint.received == []


@pytest.mark.parametrize("secret", ["", "short", "dev-only-console-secret"])
async def test_the_webhook_step_never_signs_with_an_unfit_key(
    receiver: tuple[Receiver, str], provider: Factory, secret: str
) -> None:
    """The webhook step's call (``post_json``) signed with an empty key when none was set; a
    receiver cannot tell that from a forgery. Now nothing is sent, and the error names the
    setting (the step ends as WebhookRefused, not retried)."""
    endpoint, url = receiver
    hooks = provider(webhook_allow_private_targets=True, webhook_secret=secret)
    with pytest.raises(PermanentDeliveryError, match="JOURNEYS_WEBHOOK_SECRET") as refused:
        await hooks.post_json(f"{url}/hook", {"data": {}}, "run-1:webhook")
    assert refused.value.kind == "unauthorized"
    assert endpoint.calls == 0


async def test_503_is_retryable_and_a_redirect_is_not_followed(
    receiver: tuple[Receiver, str], provider: Factory
) -> None:
    _, url = receiver
    hooks = provider(webhook_allow_private_targets=True)
    with pytest.raises(RetryableDeliveryError) as busy:
        await hooks.deliver(message(f"{url}/busy"))
    assert busy.value.retry_after == 2.0
    with pytest.raises(PermanentDeliveryError) as moved:
        await hooks.deliver(message(f"{url}/moved"))
    assert moved.value.kind == "rejected"


async def test_connection_refused_is_retryable(provider: Factory) -> None:
    hooks = provider(webhook_allow_private_targets=True)
    with pytest.raises(RetryableDeliveryError):
        await hooks.deliver(message(f"http://127.0.0.1:{free_port()}/hook"))


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:{port}/hook",
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:{port}/hook",
        "http://[::ffff:127.0.0.1]:{port}/hook",
        "http://[fe80::1]/hook",
        "http://0.0.0.0:{port}/hook",
        "http://224.0.0.1/hook",
        "http://localhost:{port}/hook",
        "http://internal.shop.test/hook",
        "http://mixed.shop.test/hook",
        "ftp://example.com/hook",
    ],
)
async def test_private_targets_are_refused(
    receiver: tuple[Receiver, str], provider: Factory, target: str
) -> None:
    endpoint, url = receiver
    port = url.rsplit(":", 1)[1]
    names = {
        "internal.shop.test": ["10.1.2.3"],
        # One public and one private answer: every address must pass, not just the first.
        "mixed.shop.test": ["93.184.215.14", "fd00::1"],
    }

    async def resolve(host: str, port: int) -> list[str]:
        if host in names:
            return names[host]
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return [str(info[4][0]) for info in infos]

    hooks = provider(resolver=resolve)
    with pytest.raises(PermanentDeliveryError) as refused:
        await hooks.deliver(message(target.format(port=port)))
    assert refused.value.kind == "refused_target"
    assert endpoint.received == []


async def test_this_machines_own_name_is_refused_through_the_system_resolver(
    provider: Factory,
) -> None:
    name = socket.gethostname()
    addresses = {info[4][0] for info in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)}
    if all(forbidden(ipaddress.ip_address(str(a).split("%")[0])) is None for a in addresses):
        pytest.skip(f"{name} resolves to public addresses only here")
    with pytest.raises(PermanentDeliveryError) as refused:
        await provider().deliver(message(f"http://{name}/hook"))
    assert refused.value.kind == "refused_target"


def test_public_addresses_pass() -> None:
    for address in ("93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"):
        assert forbidden(ipaddress.ip_address(address)) is None
    # 6to4 and Teredo addresses are judged by the IPv4 address inside them.
    assert forbidden(ipaddress.ip_address("2002:7f00:1::1")) is not None
    assert forbidden(ipaddress.ip_address("2002:5db8:d70e::1")) is None
