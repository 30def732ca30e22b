"""A step that cannot be done ends in the store as it ends in Temporal (issue 18, item 7).

A webhook step whose target the channel refuses (a private address, a URL that is not http)
is that step's audited outcome, and the journey goes on, as after a message a provider refuses
for good. A run whose workflow fails (a journey error, an activity failed for good) ends its
row as ``failed`` with the reason and an audit row before the failure reaches Temporal, so no
``active`` row outlives its workflow: a second trigger then enters a new run, and a bulk
cancel's dry run (the active runs of the filter) counts none of them.

Everything is real: the time-skipping Temporal server, the worker with every activity, the
router's logic, a migrated store (journeys.testing), and a receiver listening on the refused
address, which must hear nothing.
"""

from __future__ import annotations

import pytest

from journeys.ingest.events import Event
from journeys.insight.timeline import run_timeline
from journeys.store.models import JourneyRun
from journeys.store.runs import ACTIVE, count_runs, run_filter
from journeys.testing import JourneyTestKit, at
from tests.support.helpers import ADA_TRAITS, audit_of, customer_id, runs_of, track
from tests.support.journeys.failing import FailsBeforeItsFirstWrite, RefusedHook
from tests.support.local_servers import hook_receiver, serve_app

SECRET = "a-test-signing-key-of-32-chars.."


async def test_a_refused_webhook_target_is_the_steps_audited_outcome_and_the_run_goes_on() -> None:
    app, received = hook_receiver()
    async with serve_app(app) as base:
        document = {
            "key": "def-private-hook",
            "trigger": {"event": "Order Completed"},
            "steps": [
                {"id": "crm", "type": "webhook", "url": f"{base}/hook", "body": {}},
                {"id": "thanks", "type": "send", "channel": "email", "template": "welcome_email"},
            ],
        }
        # Private targets are refused (the default): the receiver on 127.0.0.1 must hear nothing.
        async with JourneyTestKit.start(
            definitions=[document], journeys=[RefusedHook], webhook_secret=SECRET
        ) as kit:
            who = customer_id()
            first = await kit.run(
                "def-private-hook", [at("0s", "Order Completed")], customer=who, traits=ADA_TRAITS
            )
            second = await kit.run(
                "def-private-hook", [at("1h", "Order Completed")], customer=who, traits=ADA_TRAITS
            )
            code = await kit.run(
                "test-refused-hook",
                [at("0s", "Hook Requested", hook="ftp://crm.example.com/hook")],
                traits=ADA_TRAITS,
            )
    assert received == []

    assert first.outcome.status == "completed"
    kinds = [a.kind for a in first.audit]
    assert kinds[:2] == ["entered", "webhook_failed"] and kinds[-1] == "completed"
    refused = first.audit[1]
    assert f"{base}/hook" in refused.reason and "127.0.0.1 is loopback" in refused.reason
    assert refused.data["step_id"] == "crm"
    assert [d.template for d in first.sent] == ["welcome_email"], "the next step ran"

    # The second trigger entered a run of its own; neither is left active.
    assert [r.status for r in second.runs] == ["completed", "completed"]

    assert code.outcome.status == "completed"
    (failed,) = [a for a in code.audit if a.kind == "webhook_failed"]
    assert "only http and https" in failed.reason
    assert failed.data["step_id"] == "webhook:ftp://crm.example.com/hook"
    assert [d.template for d in code.sent] == ["welcome_email"]


async def test_a_failed_run_ends_its_row_with_the_reason_and_leaves_no_active_run() -> None:
    document = {
        "key": "def-broken-body",
        "trigger": {"event": "Order Completed"},
        # A goal: its watch is still waiting when the run fails, and is stopped.
        "goal": {"event": "Review Written", "within": "7d"},
        "steps": [
            {"id": "wait", "type": "delay", "duration": "1h"},
            {
                "id": "crm",
                "type": "webhook",
                "url": "https://crm.example.com/hook",
                "body": {"share": "trigger.properties.total / trigger.properties.count"},
            },
        ],
    }
    async with JourneyTestKit.start(
        definitions=[document], journeys=[FailsBeforeItsFirstWrite], webhook_secret=SECRET
    ) as kit:
        who = customer_id()
        # count 0: the body's expression divides by zero, a journey error at step crm.
        for n in range(2):
            ended = await _failed_run(kit, track("Order Completed", who, total=10, count=0))
            assert ended.status == "failed"
            assert ended.reason.startswith("step 'crm', share: ")
            assert "division by zero" in ended.reason
            assert ended.ended_at is not None
            audit = [a for a in await audit_of(kit.sessions, who) if a.run_id == ended.id]
            assert [a.kind for a in audit] == ["entered", "waiting", "failed"]
            assert (audit[-1].reason, audit[-1].data["step_id"]) == (ended.reason, "crm")
            assert len(await runs_of(kit.sessions, who)) == n + 1

        async with kit.sessions() as session:
            timeline = await run_timeline(session, ended.id)
        assert timeline is not None
        end = timeline.entries[-1]
        assert (end.kind, end.summary) == ("ended", f"Failed: {ended.reason} (0 messages sent)")

        statuses = [r.status for r in await runs_of(kit.sessions, who)]
        assert statuses == ["failed", "failed"], "the second trigger entered; none is active"
        async with kit.sessions() as session:
            # What a bulk cancel's dry run counts (api/routes/runs.py): only active runs.
            active = run_filter(journey="def-broken-body", status=ACTIVE)
            assert await count_runs(session, active) == 0

        # A failure before any step wrote: the pending entry is written, then the failed end.
        early = customer_id()
        run = await _failed_run(kit, track("Signed Up", early))
        assert run.status == "failed"
        assert "waits for ['Never Declared']" in run.reason
        audit = await audit_of(kit.sessions, early)
        assert [a.kind for a in audit] == ["entered", "failed"]


async def _failed_run(kit: JourneyTestKit, event: Event) -> JourneyRun:
    """Route ``event``; the run it started must fail in Temporal: its row, read afterwards."""
    (workflow_id,) = (await kit.route(event)).started
    with pytest.raises(AssertionError, match=f"{workflow_id} failed"):
        await kit.finish(workflow_id)
    run_id = (await kit.env.client.get_workflow_handle(workflow_id).describe()).run_id
    assert event.user_id is not None
    (row,) = [r for r in await runs_of(kit.sessions, event.user_id) if r.id == run_id]
    return row


async def test_an_emitted_event_the_router_would_refuse_fails_the_run_at_once() -> None:
    """Two copies of a 20 KB trigger property make a 40 KB event, over the stream's 32 KB: no
    retry can publish it, so the step fails for good and the run ends with the reason."""
    document = {
        "key": "def-emit-too-large",
        "trigger": {"event": "Order Completed"},
        "steps": [
            {
                "id": "tell",
                "type": "emit",
                "event": "Order Echoed",
                "properties": {
                    "first": "trigger.properties.blob",
                    "second": "trigger.properties.blob",
                },
            }
        ],
    }
    async with JourneyTestKit.start(definitions=[document]) as kit:
        who = customer_id()
        ended = await _failed_run(kit, track("Order Completed", who, blob="x" * 20_000))
    assert ended.status == "failed"
    assert "emitted event 'Order Echoed' is invalid" in ended.reason
    assert "32768" in ended.reason
