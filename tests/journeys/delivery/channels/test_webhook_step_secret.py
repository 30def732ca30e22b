"""A webhook step never calls out signed with an empty key (issue 18, item 5).

The probe found the step signing its calls with an empty key when JOURNEYS_WEBHOOK_SECRET was
unset: a receiver verifying signatures cannot tell that from anyone's forgery. Now nothing is
sent, and the step's audited outcome names the setting to fix. Everything is real: the
time-skipping Temporal server, the worker, a receiver that would accept any private target.
"""

from __future__ import annotations

from journeys.testing import JourneyTestKit, at
from tests.support.helpers import ADA_TRAITS, customer_id
from tests.support.local_servers import hook_receiver, serve_app


async def test_a_webhook_step_without_its_secret_sends_nothing_and_says_why() -> None:
    app, received = hook_receiver()

    async with serve_app(app) as base:
        document = {
            "key": "def-unsigned-hook",
            "trigger": {"event": "Order Completed"},
            "steps": [{"id": "crm", "type": "webhook", "url": f"{base}/hook", "body": {}}],
        }
        async with JourneyTestKit.start(
            definitions=[document], webhook_allow_private_targets=True, webhook_secret=""
        ) as kit:
            result = await kit.run(
                "def-unsigned-hook",
                [at("0s", "Order Completed")],
                customer=customer_id(),
                traits=ADA_TRAITS,
            )
    assert received == []
    (failed,) = [a for a in result.audit if a.kind == "webhook_failed"]
    assert "JOURNEYS_WEBHOOK_SECRET is not set" in failed.reason
