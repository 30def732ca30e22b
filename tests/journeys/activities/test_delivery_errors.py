"""What the send step does with a provider's answer: retry what may pass, record what never will.

A real worker on Temporal's time-skipping server delivers SMS through the ``twilio`` provider to a
local server speaking the Twilio Messages API, which answers each request from a script, and
webhooks through the ``webhook`` provider to the same server.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from temporalio.api.enums.v1 import EventType
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from journeys.ingest.pipeline import EventPipeline
from journeys.settings import Settings
from journeys.store import templates
from journeys.store.db import Sessions
from journeys.store.models import Delivery
from journeys.temporal import workflow_id
from journeys.workflows.dsl import Journey
from tests.conftest import Store
from tests.support.helpers import audit_of, customer_id, deliveries_of, journey_outcome, track
from tests.support.journeys.sample import DeliveryProbe
from tests.support.local_servers import serve_app

JOURNEYS: list[type[Journey]] = [DeliveryProbe]
SID = "AC0123456789abcdef0123456789abcdef"
CALLBACK = "https://journeys.example.com/hooks/twilio"

Answer = tuple[int, dict[str, Any], dict[str, str]]
TOO_MANY: Answer = (429, {"code": 20429, "message": "Too Many Requests"}, {"Retry-After": "1"})
SERVER_ERROR: Answer = (500, {"code": 20500, "message": "Internal Server Error"}, {})
INVALID_TO: Answer = (
    400,
    {"code": 21211, "message": "The 'To' number +15550000001 is not a valid phone number."},
    {},
)


@dataclass
class FakeProviders:
    """Twilio's Messages API answering from ``script`` (then 201), and a webhook receiver.

    Each SMS request also notes the state of the delivery rows when it arrived, which shows
    whether a retry found its row still ``sending``.
    """

    sessions: Sessions
    script: list[Answer] = field(default_factory=list)
    sms: list[dict[str, str]] = field(default_factory=list)
    rows_seen: list[list[tuple[int, str]]] = field(default_factory=list)
    hooks: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)
    # Run before a scripted answer: a change the retry must not see (a new template version).
    meanwhile: Callable[[], Awaitable[None]] | None = None

    async def messages(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode(), strict_parsing=True))
        self.sms.append(form)
        async with self.sessions() as session:
            rows = await session.scalars(select(Delivery).where(Delivery.channel == "sms"))
            self.rows_seen.append([(row.id, row.status) for row in rows])
        if self.script:
            if self.meanwhile is not None:
                await self.meanwhile()
            status, body, headers = self.script.pop(0)
            return JSONResponse(body | {"status": status}, status_code=status, headers=headers)
        sid = f"SM{len(self.sms):032d}"
        return JSONResponse({"sid": sid, "status": "queued", "to": form["To"]}, status_code=201)

    async def hook(self, request: Request) -> Response:
        self.hooks.append((dict(request.headers), json.loads(await request.body())))
        return Response(status_code=204)


@pytest.fixture
async def fake(store: Store) -> AsyncIterator[tuple[FakeProviders, str]]:
    providers = FakeProviders(store.sessions)
    app = Starlette(
        routes=[
            Route("/2010-04-01/Accounts/{sid}/Messages.json", providers.messages, methods=["POST"]),
            Route("/hook", providers.hook, methods=["POST"]),
        ]
    )
    async with serve_app(app) as url:
        yield providers, url


@pytest.fixture
async def worker_settings(
    store: Store, fake: tuple[FakeProviders, str], tmp_path: Path
) -> Settings:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "delivery_note.txt.j2").write_text("Hello {{ customer.first_name }}")
    (folder / "delivery_note.subject.j2").write_text("A note")
    # Files with a subject make an email only; the probe's SMS and webhook sends get their own.
    text = templates.Content(None, "Hello {{ customer.first_name }}", None)
    async with store.sessions.begin() as session:
        for channel in ("sms", "webhook"):
            await templates.add_version(
                session, "delivery_note", channel, text, previous=None, source=templates.API
            )
    _, url = fake
    store.settings = store.settings.model_copy(
        update={
            "templates_dir": folder,
            "channel_providers": {"sms": "twilio", "email": "console", "webhook": "webhook"},
            "twilio_base_url": url,
            "twilio_account_sid": SID,
            "twilio_auth_token": SecretStr("twilio-auth-token"),
            "twilio_from_number": "+15559990000",
            "twilio_status_callback_url": CALLBACK,
            "webhook_url": f"{url}/hook",
            "webhook_secret": SecretStr("webhook-secret-for-tests"),
            "webhook_allow_private_targets": True,
        }
    )
    return store.settings


@pytest.fixture
def code_journeys() -> list[type[Journey]]:
    return JOURNEYS


def retried(caplog: pytest.LogCaptureFixture) -> list[tuple[str | None, str, timedelta | None]]:
    """The errors the worker reported failing send attempts with: type, message, retry delay."""
    errors = [
        r.exc_info[1]
        for r in caplog.records
        if r.name == "temporalio.activity" and r.exc_info and r.exc_info[1]
    ]
    assert all(isinstance(err, ApplicationError) for err in errors)
    return [
        (e.type, e.message, e.next_retry_delay) for e in errors if isinstance(e, ApplicationError)
    ]


async def run_probe(
    env: WorkflowEnvironment, router: EventPipeline, customer: str, **properties: Any
) -> tuple[str, int]:
    """Start the probe journey for ``customer``; its outcome's status and messages sent."""
    await router.route(track("Delivery Test", customer, **properties))
    outcome = await journey_outcome(env, workflow_id("test-delivery", customer))
    return outcome.status, outcome.messages_sent


async def test_a_rate_limited_sms_is_retried_with_the_same_message_and_sent_once(
    time_skipping: WorkflowEnvironment,
    store: Store,
    fake: tuple[FakeProviders, str],
    router: EventPipeline,
    caplog: pytest.LogCaptureFixture,
) -> None:
    providers, _ = fake
    providers.script = [TOO_MANY]
    customer = customer_id()

    assert await run_probe(time_skipping, router, customer) == ("completed", 2)

    sms, email = await deliveries_of(store.sessions, customer)
    assert (sms.status, sms.provider_message_id) == ("sent", f"SM{2:032d}")
    assert sms.template_version == 1
    assert email.status == "sent"
    # Both attempts carried the same message for the same delivery row, still ``sending``.
    first, second = providers.sms
    assert first == second
    assert first["To"] == "+15550000001" and first["Body"] == "Hello Ada"
    assert first["StatusCallback"] == f"{CALLBACK}?journeys_delivery_id={sms.id}"
    assert providers.rows_seen == [[(sms.id, "sending")], [(sms.id, "sending")]]

    # The activity failed with the error type and delay Temporal's retry goes by, and Temporal
    # ran it again (attempt 2), rather than the activity retrying inside itself.
    assert retried(caplog) == [
        (
            "RetryableDeliveryError",
            "twilio: HTTP 429: 20429 Too Many Requests",
            timedelta(seconds=1),
        )
    ]
    history = await time_skipping.client.get_workflow_handle(
        workflow_id("test-delivery", customer)
    ).fetch_history()
    attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    assert attempts == [2, 1]  # the SMS step, then the email

    audit = [a for a in await audit_of(store.sessions, customer) if a.step == sms.step]
    assert [(a.kind, a.data["provider_message_id"]) for a in audit] == [("sent", f"SM{2:032d}")]


async def test_an_invalid_number_fails_the_step_at_once_and_the_journey_goes_on(
    time_skipping: WorkflowEnvironment,
    store: Store,
    fake: tuple[FakeProviders, str],
    router: EventPipeline,
) -> None:
    providers, _ = fake
    providers.script = [INVALID_TO] * 3  # a retry would be refused again, and show here
    customer = customer_id()

    assert await run_probe(time_skipping, router, customer) == ("completed", 1)

    assert len(providers.sms) == 1
    sms, email = await deliveries_of(store.sessions, customer)
    expected = (
        "invalid_address: twilio: HTTP 400: "
        "21211 The 'To' number +15550000001 is not a valid phone number."
    )
    assert (sms.status, sms.reason, sms.provider_message_id) == ("failed", expected, None)
    # The later step ran.
    assert (email.step, email.status) == ("after", "sent")

    (failed,) = [a for a in await audit_of(store.sessions, customer) if a.step == sms.step]
    assert (failed.kind, failed.reason) == ("failed", expected)
    assert failed.data["error_kind"] == "invalid_address"
    assert failed.data["delivery_id"] == sms.id


async def test_server_errors_are_retried_until_the_sms_is_sent_once(
    time_skipping: WorkflowEnvironment,
    store: Store,
    fake: tuple[FakeProviders, str],
    router: EventPipeline,
    caplog: pytest.LogCaptureFixture,
) -> None:
    providers, _ = fake
    providers.script = [SERVER_ERROR, SERVER_ERROR]
    customer = customer_id()

    assert await run_probe(time_skipping, router, customer) == ("completed", 2)

    (sms,) = [d for d in await deliveries_of(store.sessions, customer) if d.channel == "sms"]
    assert (sms.status, sms.provider_message_id) == ("sent", f"SM{3:032d}")
    assert len(providers.sms) == 3 and all(form == providers.sms[0] for form in providers.sms)
    assert providers.rows_seen == [[(sms.id, "sending")]] * 3
    # No Retry-After: Temporal's own backoff decides the delay.
    reason = "twilio: HTTP 500: 20500 Internal Server Error"
    assert retried(caplog) == [("RetryableDeliveryError", reason, None)] * 2


async def test_a_profile_without_webhook_url_goes_to_the_configured_one(
    time_skipping: WorkflowEnvironment,
    store: Store,
    fake: tuple[FakeProviders, str],
    router: EventPipeline,
) -> None:
    providers, url = fake
    customer = customer_id()

    assert await run_probe(time_skipping, router, customer, channel="webhook") == ("completed", 2)

    hook, _ = await deliveries_of(store.sessions, customer)
    assert (hook.channel, hook.status, hook.recipient) == ("webhook", "sent", f"{url}/hook")
    ((headers, body),) = providers.hooks
    run_id = hook.run_id
    assert body["id"] == headers["idempotency-key"] == f"{run_id}:webhook:delivery_note"
    assert (body["delivery_id"], body["customer_id"], body["text"]) == (
        hook.id,
        customer,
        "Hello Ada",
    )
    assert body["metadata"] == {
        "journey_key": "test-delivery",
        "journey_version": "1",
        "run_id": run_id,
        "step": "webhook:delivery_note",
        "template": "delivery_note",
        "template_version": "1",
    }


async def test_a_retry_renders_the_template_version_its_delivery_claimed(
    time_skipping: WorkflowEnvironment,
    store: Store,
    fake: tuple[FakeProviders, str],
    router: EventPipeline,
) -> None:
    """A template saved between a 429 and its retry does not change the retried message: the
    delivery row holds the version it rendered, and the retry renders that one again."""
    providers, _ = fake
    providers.script = [TOO_MANY]

    async def new_version() -> None:
        changed = templates.Content(None, "Version two for {{ customer.first_name }}", None)
        async with store.sessions.begin() as session:
            await templates.add_version(
                session, "delivery_note", "sms", changed, previous=1, source=templates.API
            )

    providers.meanwhile = new_version
    customer = customer_id()

    assert await run_probe(time_skipping, router, customer) == ("completed", 2)

    sms, _ = await deliveries_of(store.sessions, customer)
    first, second = providers.sms
    assert first["Body"] == second["Body"] == "Hello Ada"
    assert (sms.status, sms.template_version, sms.body) == ("sent", 1, "Hello Ada")
