"""`journeys dev`, the README's first command, as a user runs it: the stack comes up with an admin
key in the data folder, a journey runs through the HTTP API with that key, and Ctrl-C (SIGINT)
stops every process it started.

The journey's SMS goes to a local Twilio server that holds it: the purchase is posted while the
SMS is in the provider's hands and the SMS is let go only once the run has taken the purchase
in, so the run exits in its 2-hour wait whatever the machine's load, instead of the purchase
racing the demo clock's 12 s to the email."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest
from temporalio.client import Client

from journeys.contracts import RECEIVED_EVENTS_QUERY
from journeys.temporal import workflow_id
from tests.conftest import REPO
from tests.support.held_sms import SID, TOKEN, HeldTwilio, held_twilio
from tests.support.helpers import customer_id, eventually, free_port

pytestmark = pytest.mark.slow


async def test_dev_starts_the_stack_runs_a_journey_and_stops_cleanly(tmp_path: Path) -> None:
    async with held_twilio() as (held, twilio):
        await _dev_stack(tmp_path, held, twilio.client.base_url)


async def _dev_stack(tmp_path: Path, held: HeldTwilio, twilio_url: httpx.URL) -> None:
    api_port = free_port()
    temporal_address = f"127.0.0.1:{free_port()}"
    variables = {
        **os.environ,
        "JOURNEYS_DATA_DIR": str(tmp_path / "data"),
        "JOURNEYS_TEMPORAL_ADDRESS": temporal_address,
        "JOURNEYS_TEMPORAL_UI_URL": f"http://127.0.0.1:{free_port()}",
        "JOURNEYS_NATS_URL": f"nats://127.0.0.1:{free_port()}",
        "JOURNEYS_NATS_MONITOR_PORT": str(free_port()),
        "JOURNEYS_API_PORT": str(api_port),
        "JOURNEYS_WORKER_HEALTH_PORT": str(free_port()),
        "JOURNEYS_ROUTER_HEALTH_PORT": str(free_port()),
        "JOURNEYS_WORKER_TEMPORAL_METRICS_PORT": str(free_port()),
        "JOURNEYS_ROUTER_TEMPORAL_METRICS_PORT": str(free_port()),
        "JOURNEYS_TEMPLATES_DIR": str(REPO / "templates"),
        "JOURNEYS_CHANNEL_PROVIDERS": '{"sms": "twilio", "email": "console"}',
        "JOURNEYS_TWILIO_BASE_URL": str(twilio_url).rstrip("/"),
        "JOURNEYS_TWILIO_ACCOUNT_SID": SID,
        "JOURNEYS_TWILIO_AUTH_TOKEN": TOKEN,
        "JOURNEYS_TWILIO_FROM_NUMBER": "+15559990000",
    }
    log = tmp_path / "dev.log"
    with log.open("wb") as out:
        launcher = subprocess.Popen(
            [sys.executable, "-m", "workers.cli", "dev", "--time-scale", "600"],
            env=variables,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    family = psutil.Process(launcher.pid)
    customer = customer_id()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}") as api:

            async def healthy() -> None:
                try:
                    response = await api.get("/health")
                except httpx.TransportError as err:
                    raise AssertionError(f"API not up yet: {err}\n{log.read_text()}") from err
                assert response.status_code == 200, response.text

            await eventually(healthy, timeout=90, interval=0.5)
            started = {p.pid for p in family.children(recursive=True)}
            assert len(started) >= 5, "temporal, nats-server, worker, router and api"
            key_file = tmp_path / "data" / "admin.key"
            assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
            unauthorized = await api.get(f"/v1/customers/{customer}/journeys")
            assert unauthorized.status_code == 401
            api.headers["Authorization"] = f"Bearer {key_file.read_text().strip()}"

            trait = {"traits": {"first_name": "Ada", "phone": "+15550001111"}}
            cart = {"userId": customer, "event": "Cart Abandoned", "context": trait}
            assert (await api.post("/v1/track", json=cart)).status_code == 200

            await asyncio.wait_for(held.arrived.wait(), timeout=60)
            assert [form["To"] for form in held.received] == ["+15550001111"]

            async def sms_in_hand() -> None:
                response = await api.get(f"/v1/customers/{customer}/journeys")
                assert response.status_code == 200, response.text
                (run,) = response.json()["runs"]
                assert [d["channel"] for d in run["deliveries"]] == ["sms"]

            await eventually(sms_in_hand, timeout=30)
            purchase_id = f"purchase-{customer}"
            purchase = {"userId": customer, "event": "Order Completed", "messageId": purchase_id}
            assert (await api.post("/v1/track", json=purchase)).status_code == 200

            temporal = await Client.connect(temporal_address)
            run_handle = temporal.get_workflow_handle(workflow_id("cart-recovery", customer))

            async def purchase_taken_in() -> None:
                ids = await run_handle.query(RECEIVED_EVENTS_QUERY, result_type=list[str])
                assert purchase_id in ids, ids

            await eventually(purchase_taken_in, timeout=60)
            held.release()

            async def exited() -> None:
                response = await api.get(f"/v1/customers/{customer}/journeys")
                (run,) = response.json()["runs"]
                assert (run["status"], run["reason"]) == ("exited", "exited on Order Completed")
                assert [(d["channel"], d["status"]) for d in run["deliveries"]] == [("sms", "sent")]

            await eventually(exited, timeout=60)
    finally:
        launcher.send_signal(signal.SIGINT)
        code = launcher.wait(60)

    output = log.read_text()
    assert code == 0, output
    assert "Journeys is up" in output and "stopped" in output
    assert f"export KEY=$(cat {key_file})" in output
    assert "Temporal: starting the dev server" in output
    assert [p for p in psutil.pids() if p in started and psutil.pid_exists(p)] == []
