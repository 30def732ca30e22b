"""/v1/journeys for declarative journeys: drafts (JSON or YAML), validation naming the step and
field, publishing immutable versions, pause/resume/archive, and the diff between versions."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import httpx
import pytest

from journeys.definitions.document import INTERPRETER_WORKFLOW
from journeys.delivery.templates_catalog import seed_templates
from journeys.examples import CartRecovery, WelcomeSeries
from journeys.registry import register_code_journeys
from journeys.store import definitions
from tests.conftest import Store
from tests.support.journeys.bad_definitions import BAD_DEFINITIONS, NUDGE, PAUSE

KEY = "cart-lite"
STORED = [PAUSE, {**NUDGE, "data": {}}]  # the steps as stored: normalised, defaults written out
DOCUMENT: dict[str, Any] = {
    "key": KEY,
    "name": "Cart recovery (lite)",
    "description": "one SMS after 15 minutes",
    "trigger": {"event": "Cart Abandoned", "where": "event.properties.total > 20"},
    "entry": {"cooldown": "1d"},
    "exit_on": [{"event": "Order Completed"}],
    "steps": [PAUSE, NUDGE],
}
YAML = """\
key: cart-lite
description: one SMS, in office hours
trigger: {event: Cart Abandoned}
exit_on:
  - event: Order Completed
steps:
  - id: office
    type: delay
    window: {days: [mon, tue, wed, thu, fri], start: 09:00, end: 17:30}
  - id: nudge
    type: send
    channel: sms
    template: cart_recovery_sms
"""


@pytest.fixture(autouse=True)
async def shipped_templates(store: Store) -> None:
    """cart_recovery_sms (sms) and cart_recovery_email (email), among others."""
    await seed_templates(store.sessions, store.settings)


async def put_draft(
    client: httpx.AsyncClient, document: dict[str, Any], key: str = KEY
) -> httpx.Response:
    return await client.put(f"/v1/journeys/{key}/draft", json=document)


async def publish(client: httpx.AsyncClient, key: str = KEY) -> httpx.Response:
    return await client.post(f"/v1/journeys/{key}/publish")


def edited(**fields: Any) -> dict[str, Any]:
    document = copy.deepcopy(DOCUMENT)
    document.update(fields)
    return document


async def test_draft_publish_edit_publish_keeps_every_version(client: httpx.AsyncClient) -> None:
    saved = await put_draft(client, DOCUMENT)
    assert saved.status_code == 201, saved.text
    body = saved.json()
    assert (body["created"], body["kind"], body["status"], body["latest_version"]) == (
        True,
        "definition",
        "active",
        None,
    )
    assert body["draft"]["steps"] == STORED
    assert body["draft"]["entry"]["reentry"] == "after_exit"  # normalised: defaults written out

    first = await publish(client)
    assert first.status_code == 201, first.text
    v1 = first.json()
    assert (v1["version"], v1["created"], v1["kind"]) == (1, True, "definition")
    assert (v1["workflow_type"], v1["trigger_event"]) == (INTERPRETER_WORKFLOW, "Cart Abandoned")
    assert (v1["exit_events"], v1["listens_to"]) == (["Order Completed"], [])
    assert v1["description"] == "one SMS after 15 minutes"
    assert v1["published_at"] is not None
    assert v1["document"] == body["draft"]

    after = (await client.get(f"/v1/journeys/{KEY}")).json()
    assert (after["draft"], after["latest_version"]) == (None, 1)  # publishing clears the draft

    # The next edit: a second SMS template and a goal the running journey listens to.
    second_draft = edited(
        steps=[PAUSE, {**NUDGE, "template": "cart_recovery_email", "channel": "email"}],
        goal={"event": "Checkout Started", "within": "3d"},
    )
    again = await put_draft(client, second_draft)
    assert (again.status_code, again.json()["created"]) == (200, False)
    v2 = (await publish(client)).json()
    assert (v2["version"], v2["listens_to"]) == (2, ["Checkout Started"])

    detail = (await client.get(f"/v1/journeys/{KEY}")).json()
    assert [v["version"] for v in detail["versions"]] == [2, 1]
    # Version 1 is as it was published: immutable.
    old = (await client.get(f"/v1/journeys/{KEY}/versions/1")).json()
    assert old == {**{k: v for k, v in v1.items() if k != "created"}}
    assert (await client.get(f"/v1/journeys/{KEY}/versions/3")).status_code == 404

    listed = (await client.get("/v1/journeys")).json()
    assert [(j["key"], j["version"], j["status"], j["has_draft"]) for j in listed] == [
        (KEY, 2, "active", False)
    ]


async def test_publishing_needs_a_draft_and_an_unchanged_one_adds_no_version(
    client: httpx.AsyncClient,
) -> None:
    await put_draft(client, DOCUMENT)
    assert (await publish(client)).status_code == 201

    nothing = await publish(client)
    assert nothing.status_code == 409
    assert "no draft to publish" in nothing.json()["detail"]

    await put_draft(client, DOCUMENT)
    same = await publish(client)
    assert same.status_code == 200
    assert (same.json()["version"], same.json()["created"]) == (1, False)
    assert (await client.get(f"/v1/journeys/{KEY}")).json()["draft"] is None


async def test_diff_between_versions_and_with_the_draft(client: httpx.AsyncClient) -> None:
    await put_draft(client, DOCUMENT)
    await publish(client)
    extra = {"id": "extra", "type": "send", "channel": "email", "template": "cart_recovery_email"}
    await put_draft(
        client,
        edited(
            entry={},
            steps=[PAUSE, {**NUDGE, "template": "cart_recovery_email", "channel": "email"}, extra],
        ),
    )
    await publish(client)
    await put_draft(client, edited(steps=[{**PAUSE, "duration": "1h"}, NUDGE]))

    response = await client.get(f"/v1/journeys/{KEY}/diff", params={"from": 1, "to": 2})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "key": KEY,
        "from": "1",
        "to": "2",
        "changes": [
            {"path": "entry.cooldown", "change": "removed", "from": "1d"},
            {"path": "steps.nudge.channel", "change": "changed", "from": "sms", "to": "email"},
            {
                "path": "steps.nudge.template",
                "change": "changed",
                "from": "cart_recovery_sms",
                "to": "cart_recovery_email",
            },
            {"path": "steps.extra", "change": "added", "to": {**extra, "data": {}}},
        ],
    }

    to_draft = await client.get(f"/v1/journeys/{KEY}/diff", params={"from": 1, "to": "draft"})
    assert to_draft.json()["changes"] == [
        {"path": "steps.pause.duration", "change": "changed", "from": "15m", "to": "1h"}
    ]
    same = await client.get(f"/v1/journeys/{KEY}/diff", params={"from": 2, "to": 2})
    assert same.json()["changes"] == []

    missing = await client.get(f"/v1/journeys/{KEY}/diff", params={"from": 1, "to": 9})
    assert missing.status_code == 404
    bad = await client.get(f"/v1/journeys/{KEY}/diff", params={"from": "latest", "to": 2})
    assert bad.status_code == 422
    await publish(client)
    no_draft = await client.get(f"/v1/journeys/{KEY}/diff", params={"from": 1, "to": "draft"})
    assert no_draft.status_code == 404


async def test_pause_resume_archive_rules(client: httpx.AsyncClient) -> None:
    base = f"/v1/journeys/{KEY}"
    await put_draft(client, DOCUMENT)
    await publish(client)

    paused = await client.post(f"{base}/pause")
    assert (paused.status_code, paused.json()["status"], paused.json()["changed"]) == (
        200,
        "paused",
        True,
    )
    # Asking again changes nothing and is no error (a retried request).
    assert (await client.post(f"{base}/pause")).json()["changed"] is False

    # Publishing while paused keeps the journey paused: start a version without letting anyone in.
    await put_draft(client, edited(description="v2"))
    assert (await publish(client)).json()["version"] == 2
    assert (await client.get(base)).json()["status"] == "paused"

    resumed = await client.post(f"{base}/resume")
    assert (resumed.json()["status"], resumed.json()["changed"]) == ("active", True)
    assert (await client.post(f"{base}/resume")).json()["changed"] is False

    archived = await client.post(f"{base}/archive")
    assert (archived.json()["status"], archived.json()["changed"]) == ("archived", True)
    assert (await client.post(f"{base}/archive")).json()["changed"] is False

    # Archiving is final: no resume, pause, draft or publish; the versions stay readable.
    for action in ("resume", "pause"):
        refused = await client.post(f"{base}/{action}")
        assert refused.status_code == 409, action
        assert "archived" in refused.json()["detail"]
    assert (await put_draft(client, DOCUMENT)).status_code == 409
    assert (await publish(client)).status_code == 409
    assert (await client.get(f"{base}/versions/1")).status_code == 200
    assert (await client.get(base)).json()["status"] == "archived"


async def test_a_paused_journey_can_be_archived(client: httpx.AsyncClient) -> None:
    await put_draft(client, DOCUMENT)
    await client.post(f"/v1/journeys/{KEY}/pause")
    archived = await client.post(f"/v1/journeys/{KEY}/archive")
    assert (archived.status_code, archived.json()["status"]) == (200, "archived")
    assert archived.json()["latest_version"] is None


async def test_code_journeys_pause_and_resume_but_have_no_drafts(
    client: httpx.AsyncClient, store: Store
) -> None:
    await register_code_journeys(store.sessions, [CartRecovery, WelcomeSeries])
    base = "/v1/journeys/cart-recovery"

    paused = await client.post(f"{base}/pause")
    assert (paused.status_code, paused.json()["kind"], paused.json()["status"]) == (
        200,
        "code",
        "paused",
    )
    # A worker registering its journeys again does not undo the pause.
    await register_code_journeys(store.sessions, [CartRecovery, WelcomeSeries])
    assert (await client.get(base)).json()["status"] == "paused"
    assert (await client.post(f"{base}/resume")).json()["status"] == "active"

    draft = await put_draft(client, {**DOCUMENT, "key": "cart-recovery"}, key="cart-recovery")
    assert draft.status_code == 409
    assert "code journey" in draft.json()["detail"]
    published = await publish(client, "cart-recovery")
    assert published.status_code == 409
    assert "code journey" in published.json()["detail"]

    listed = (await client.get("/v1/journeys")).json()
    assert [(j["key"], j["kind"], j["status"]) for j in listed] == [
        ("cart-recovery", "code", "active"),
        ("welcome-series", "code", "active"),
    ]


async def test_an_unknown_journey_is_not_found(client: httpx.AsyncClient) -> None:
    base = "/v1/journeys/nope"
    assert (await client.get(base)).status_code == 404
    assert (await client.get(f"{base}/versions/1")).status_code == 404
    assert (await client.get(f"{base}/diff", params={"from": 1, "to": 2})).status_code == 404
    for action in ("publish", "pause", "resume", "archive"):
        assert (await client.post(f"{base}/{action}")).status_code == 404, action


@pytest.mark.parametrize(
    ("steps", "fields", "step", "field", "message"),
    BAD_DEFINITIONS,
)
async def test_a_bad_definition_is_refused_naming_the_step_and_field(
    client: httpx.AsyncClient,
    steps: list[dict[str, Any]],
    fields: dict[str, Any],
    step: str | None,
    field: str,
    message: str,
) -> None:
    document = edited(steps=steps, **fields)

    response = await put_draft(client, document)

    assert response.status_code == 422, response.text
    problems = response.json()["detail"]
    assert any(
        p["step"] == step and p["field"] == field and message in p["message"] for p in problems
    ), problems
    assert (await client.get(f"/v1/journeys/{KEY}")).status_code == 404  # nothing stored

    checked = (await client.post("/v1/journeys/validate", json=document)).json()
    assert checked["valid"] is False
    assert checked["problems"] == problems


async def test_a_bad_draft_leaves_the_saved_one_alone(client: httpx.AsyncClient) -> None:
    await put_draft(client, DOCUMENT)
    bad = await put_draft(client, edited(steps=[{**NUDGE, "template": "nope"}]))
    assert bad.status_code == 422
    assert (await client.get(f"/v1/journeys/{KEY}")).json()["draft"]["steps"] == STORED


async def test_validate_saves_nothing(client: httpx.AsyncClient) -> None:
    checked = await client.post("/v1/journeys/validate", json=DOCUMENT)
    assert checked.status_code == 200
    assert (checked.json()["valid"], checked.json()["problems"]) == (True, [])
    assert checked.json()["document"]["steps"] == STORED
    assert (await client.get(f"/v1/journeys/{KEY}")).status_code == 404


async def test_yaml_is_accepted(client: httpx.AsyncClient) -> None:
    response = await client.put(
        f"/v1/journeys/{KEY}/draft", content=YAML, headers={"content-type": "application/yaml"}
    )
    assert response.status_code == 201, response.text
    office = response.json()["draft"]["steps"][0]
    # 09:00 and 17:30 stay times (YAML 1.1 would read 17:30 as the number 1050).
    assert office["window"] == {
        "days": ["mon", "tue", "wed", "thu", "fri"],
        "start": "09:00",
        "end": "17:30",
    }
    assert (await publish(client)).json()["description"] == "one SMS, in office hours"

    checked = await client.post(
        "/v1/journeys/validate", content=YAML, headers={"content-type": "text/yaml"}
    )
    assert checked.json()["valid"] is True


async def test_yaml_or_json_that_does_not_parse_is_refused(client: httpx.AsyncClient) -> None:
    yaml_error = await client.put(
        f"/v1/journeys/{KEY}/draft",
        content="key: [unclosed",
        headers={"content-type": "application/yaml"},
    )
    assert yaml_error.status_code == 422
    [problem] = yaml_error.json()["detail"]
    assert (problem["step"], problem["field"]) == (None, "body")
    assert problem["message"].startswith("the YAML does not parse")

    json_error = await client.put(
        f"/v1/journeys/{KEY}/draft",
        content="{not json",
        headers={"content-type": "application/json"},
    )
    assert json_error.status_code == 422
    assert json_error.json()["detail"][0]["message"].startswith("the JSON does not parse")

    other = await client.put(
        f"/v1/journeys/{KEY}/draft", content="x", headers={"content-type": "text/plain"}
    )
    assert other.status_code == 415


async def test_the_key_comes_from_the_path(client: httpx.AsyncClient) -> None:
    without_key = {k: v for k, v in DOCUMENT.items() if k != "key"}
    saved = await put_draft(client, without_key)
    assert (saved.status_code, saved.json()["draft"]["key"]) == (201, KEY)

    other = await put_draft(client, {**DOCUMENT, "key": "another"})
    assert other.status_code == 422
    assert other.json()["detail"] == [
        {"step": None, "field": "key", "message": "the body's key 'another' is not the path's"}
    ]

    bad_key = await put_draft(client, without_key, key="Not A Key")
    assert bad_key.status_code == 422
    assert bad_key.json()["detail"][0]["field"] == "key"


async def test_concurrent_publishes_get_distinct_versions(store: Store) -> None:
    """Drafts saved and published from many requests at once: versions 1..n, no gaps, no two
    alike, and a publish finding no draft (another took it) refused, not failed."""
    await definitions.save_draft(store.sessions, DOCUMENT)

    async def edit_and_publish(n: int) -> int | None:
        await definitions.save_draft(store.sessions, edited(description=f"edit {n}"))
        try:
            published = await definitions.publish(store.sessions, KEY)
        except definitions.Refused:
            return None
        return published.definition.version if published.created else None

    results = await asyncio.gather(*(edit_and_publish(n) for n in range(8)))
    versions = sorted(v for v in results if v is not None)
    assert versions, results
    assert versions == list(range(1, len(versions) + 1))
    async with store.sessions() as session:
        journey = await definitions.get_journey(session, KEY)
    assert [row.version for row in journey.versions] == versions
