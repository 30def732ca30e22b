"""A worker SIGKILLed right after the SMS provider accepted a message: after a restart, no second
message goes out (invariant 3).

The provider is a local server speaking Twilio's Messages API; it kills the worker the moment the
message reaches it, before answering, which is the worst moment there is: the provider has the
message and the store still says ``sending``. The retried step must conclude ``unconfirmed``
rather than send again, and the journey goes on to its next step.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from temporalio.client import Client

from journeys.contracts import JourneyOutcome
from journeys.ingest.pipeline import EventPipeline
from journeys.ingest.routing import load_index
from journeys.store import templates as template_store
from journeys.temporal import workflow_id
from tests.conftest import Store
from tests.support.helpers import (
    audit_of,
    customer_id,
    deliveries_of,
    eventually,
    start_process,
    track,
)
from tests.support.local_servers import serve_app

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


class KillingProvider:
    """Takes the message, kills the worker that sent it, and answers as Twilio would."""

    def __init__(self) -> None:
        self.received: list[dict[str, str]] = []
        self.worker: subprocess.Popen[bytes] | None = None

    async def messages(self, request: Request) -> JSONResponse:
        form = parse_qs((await request.body()).decode())
        self.received.append({k: v[0] for k, v in form.items()})
        if self.worker is not None and self.worker.poll() is None:
            os.kill(self.worker.pid, signal.SIGKILL)
        return JSONResponse({"sid": f"SM{len(self.received):032d}"}, status_code=201)


async def test_worker_killed_after_the_provider_accepted_sends_nothing_twice(
    temporal_dev: Client, temporal_address: str, store: Store, tmp_path: Path
) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "delivery_note.txt.j2").write_text("Your order is on its way")
    (templates / "delivery_note.subject.j2").write_text("On its way")
    # Files with a subject make an email only; the probe's SMS gets a text template of its own.
    text = template_store.Content(None, "Your order is on its way", None)
    async with store.sessions.begin() as session:
        await template_store.add_version(
            session, "delivery_note", "sms", text, previous=None, source=template_store.API
        )
    provider = KillingProvider()
    app = Starlette(
        routes=[
            Route("/2010-04-01/Accounts/{sid}/Messages.json", provider.messages, methods=["POST"])
        ]
    )
    settings = store.settings.model_copy(
        update={"temporal_address": temporal_address, "templates_dir": templates}
    )
    log = tmp_path / "worker.log"
    customer = customer_id()
    wid = workflow_id("test-delivery", customer)

    async with serve_app(app) as base_url:
        environment = {
            "JOURNEYS_JOURNEY_MODULES": json.dumps(["tests.support.journeys.sample"]),
            "JOURNEYS_CHANNEL_PROVIDERS": json.dumps({"sms": "twilio", "email": "console"}),
            "JOURNEYS_TWILIO_BASE_URL": base_url,
            "JOURNEYS_TWILIO_ACCOUNT_SID": "AC00000000000000000000000000000000",
            "JOURNEYS_TWILIO_AUTH_TOKEN": "test-token",
            "JOURNEYS_TWILIO_FROM_NUMBER": "+15550000000",
        }
        first = start_process("worker", settings, log, **environment)
        provider.worker = first
        try:

            async def registered() -> None:
                index = await load_index(store.sessions)
                assert index.wants("Delivery Test"), log.read_text()[-2000:]

            await eventually(registered, timeout=60)
            router = EventPipeline(
                temporal_dev, settings, await load_index(store.sessions), store.sessions
            )
            await router.route(track("Delivery Test", customer))

            async def killed() -> None:
                assert first.poll() == -signal.SIGKILL

            await eventually(killed, timeout=60)
            (claimed,) = await deliveries_of(store.sessions, customer)
            assert claimed.status == "sending"

            second = start_process("worker", settings, log, **environment)
            try:
                handle = temporal_dev.get_workflow_handle(wid, result_type=JourneyOutcome)
                outcome = await handle.result()
            finally:
                second.send_signal(signal.SIGTERM)
                second.wait(30)
        finally:
            if first.poll() is None:
                first.kill()

    assert len(provider.received) == 1, provider.received
    assert outcome.status == "completed"
    sms, email = await deliveries_of(store.sessions, customer)
    assert (sms.status, email.status) == ("unconfirmed", "sent")
    assert "not sent again" in sms.reason
    audit = [(a.kind, a.step) for a in await audit_of(store.sessions, customer)]
    assert ("unconfirmed", sms.step) in audit
