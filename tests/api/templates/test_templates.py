"""/v1/templates: create, version, list, preview and validate templates; bad drafts get a 422
naming the field and line, and change nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from journeys.delivery.templates_catalog import TemplateCatalog, seed_templates
from tests.conftest import Store

CART_EMAIL = {
    "name": "cart_email",
    "channel": "email",
    "subject": "{{ customer.first_name }}, your cart",
    "text": "You left {{ event.properties.item_count | default('some') }} item(s).",
    "html": "<p>Hi {{ customer.first_name }}</p>",
    "description": "first draft",
}


async def create(client: httpx.AsyncClient, **fields: Any) -> httpx.Response:
    return await client.post("/v1/templates", json={**CART_EMAIL, **fields})


def locs(response: httpx.Response) -> list[tuple[str, ...]]:
    return [tuple(str(part) for part in error["loc"]) for error in response.json()["detail"]]


async def test_create_then_read_and_list(client: httpx.AsyncClient) -> None:
    created = await create(client)
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["version"], body["source"], body["created"], body["warnings"]) == (
        1,
        "api",
        True,
        [],
    )
    assert body["subject"] == CART_EMAIL["subject"]

    detail = (await client.get("/v1/templates/email/cart_email")).json()
    assert (detail["version"], detail["description"]) == (1, "first draft")
    assert [v["version"] for v in detail["versions"]] == [1]

    listed = (await client.get("/v1/templates")).json()
    assert [(t["channel"], t["name"], t["version"]) for t in listed] == [("email", "cart_email", 1)]
    assert (await client.get("/v1/templates", params={"channel": "sms"})).json() == []


async def test_the_seeded_templates_are_listed_once_per_channel_they_are_for(
    client: httpx.AsyncClient, store: Store
) -> None:
    """The shipped files: each email (it has a subject) on email, the SMS text on sms, and no
    email again as an SMS."""
    await seed_templates(store.sessions, store.settings)
    listed = (await client.get("/v1/templates")).json()
    assert [(t["channel"], t["name"]) for t in listed] == [
        ("email", "cart_recovery_email"),
        ("sms", "cart_recovery_sms"),
        ("email", "welcome_email"),
        ("email", "welcome_tips_email"),
    ]
    sms = (await client.get("/v1/templates", params={"channel": "sms"})).json()
    assert [t["name"] for t in sms] == ["cart_recovery_sms"]
    assert (await client.get("/v1/templates/sms/welcome_email")).status_code == 404


async def test_creating_an_existing_template_is_a_conflict(client: httpx.AsyncClient) -> None:
    assert (await create(client)).status_code == 201
    again = await create(client, text="other")
    assert again.status_code == 409
    assert "PUT /v1/templates/email/cart_email" in again.json()["detail"]


async def test_put_adds_a_version_and_keeps_the_old_ones(
    client: httpx.AsyncClient, store: Store
) -> None:
    await create(client)
    catalog = TemplateCatalog(store.sessions)
    context = {"customer": {"first_name": "Ada"}, "event": {"properties": {}}}
    assert (await catalog.render("cart_email", "email", context)).version == 1

    edit = {"subject": "Still thinking, {{ customer.first_name }}?", "text": "Come back."}
    saved = await client.put("/v1/templates/email/cart_email", json={**edit, "base_version": 1})
    assert saved.status_code == 201, saved.text
    assert (saved.json()["version"], saved.json()["html"]) == (2, None)

    # The worker's catalog sends the new version from now on.
    rendered = await catalog.render("cart_email", "email", context)
    assert (rendered.version, rendered.subject) == (2, "Still thinking, Ada?")

    detail = (await client.get("/v1/templates/email/cart_email")).json()
    assert [v["version"] for v in detail["versions"]] == [2, 1]
    first = (await client.get("/v1/templates/email/cart_email/versions/1")).json()
    assert first["subject"] == CART_EMAIL["subject"]
    assert (await client.get("/v1/templates/email/cart_email/versions/3")).status_code == 404


async def test_put_of_the_same_content_adds_no_version(client: httpx.AsyncClient) -> None:
    await create(client)
    same = {k: CART_EMAIL[k] for k in ("subject", "text", "html", "description")}
    response = await client.put("/v1/templates/email/cart_email", json=same)
    assert response.status_code == 200
    assert (response.json()["version"], response.json()["created"]) == (1, False)


async def test_put_based_on_an_old_version_is_a_conflict(client: httpx.AsyncClient) -> None:
    await create(client)
    edit = {"subject": "S", "text": "T"}
    assert (await client.put("/v1/templates/email/cart_email", json=edit)).status_code == 201
    stale = await client.put("/v1/templates/email/cart_email", json={**edit, "base_version": 1})
    assert stale.status_code == 409
    assert "is at version 2, not 1" in stale.json()["detail"]


async def test_put_of_an_unknown_template_is_not_found(client: httpx.AsyncClient) -> None:
    response = await client.put("/v1/templates/sms/nope", json={"text": "hi"})
    assert response.status_code == 404


async def test_an_invalid_version_is_refused_naming_field_and_line(
    client: httpx.AsyncClient,
) -> None:
    await create(client)
    broken = {"subject": "Hi", "text": "Line one\n{% if customer.vip %}VIP"}
    response = await client.put("/v1/templates/email/cart_email", json=broken)
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert (problem["loc"], problem["line"], problem["type"]) == (["body", "text"], 2, "syntax")
    assert "line 2: Unexpected end of template" in problem["msg"]
    detail = (await client.get("/v1/templates/email/cart_email")).json()
    assert detail["version"] == 1


@pytest.mark.parametrize(
    ("fields", "loc", "type_"),
    [
        ({"subject": ""}, ("body", "subject"), "required"),
        ({"subject": "Hi {{ customer.nickname }}"}, ("body", "subject"), "undefined"),
        ({"text": None, "html": None}, ("body", "text"), "required"),
        ({"channel": "sms", "subject": "s"}, ("body", "subject"), "not_allowed"),
        ({"html": "{{ self.__dict__ }}"}, ("body", "html"), "unsafe"),
        ({"name": "no spaces"}, ("body", "name"), "string_pattern_mismatch"),
        ({"channel": "SMS"}, ("body", "channel"), "string_pattern_mismatch"),
        ({"text": 5}, ("body", "text"), "string_type"),
        ({"unknown": 1}, ("body", "unknown"), "extra_forbidden"),
    ],
)
async def test_invalid_input_is_a_422_naming_the_field(
    client: httpx.AsyncClient, fields: dict[str, Any], loc: tuple[str, ...], type_: str
) -> None:
    response = await create(client, **fields)
    assert response.status_code == 422, response.text
    assert loc in locs(response)
    assert type_ in [error["type"] for error in response.json()["detail"]]
    assert (await client.get("/v1/templates")).json() == []


async def test_a_save_with_warnings_succeeds_and_returns_them(client: httpx.AsyncClient) -> None:
    response = await create(
        client, name="long_sms", channel="sms", subject=None, html=None, text="{{ 'a' * 500 }}"
    )
    assert response.status_code == 201
    [warning] = response.json()["warnings"]
    assert (warning["loc"], warning["type"], warning["severity"]) == (
        ["body", "text"],
        "sms_segments",
        "warning",
    )


async def test_preview_renders_the_latest_or_a_given_version(client: httpx.AsyncClient) -> None:
    await create(client)
    await client.put("/v1/templates/email/cart_email", json={"subject": "v2", "text": "two"})
    latest = await client.post("/v1/templates/email/cart_email/preview")
    assert latest.status_code == 200, latest.text
    assert (latest.json()["version"], latest.json()["subject"]) == (2, "v2")

    first = await client.post(
        "/v1/templates/email/cart_email/preview",
        json={
            "version": 1,
            "customer": {"first_name": "<Bob>"},
            "event": {"name": "Cart Abandoned", "properties": {"item_count": 3}},
        },
    )
    body = first.json()
    assert (body["version"], body["subject"], body["sms"]) == (1, "<Bob>, your cart", None)
    assert body["text"] == "You left 3 item(s)."
    assert body["html"] == "<p>Hi &lt;Bob&gt;</p>"


async def test_preview_of_an_sms_counts_its_segments(client: httpx.AsyncClient) -> None:
    text = "Hi {{ customer.first_name }}, your cart {{ event.properties.cart_id }} is waiting"
    sample = {"event": {"properties": {"cart_id": "K1"}}}
    created = await create(
        client, name="cart_sms", channel="sms", subject=None, html=None, text=text
    )
    assert created.status_code == 422, "the sample event has no cart_id"
    assert created.json()["detail"][0]["msg"] == "line 1: 'event.properties.cart_id' is undefined"
    created = await create(
        client, name="cart_sms", channel="sms", subject=None, html=None, text=text, sample=sample
    )
    assert created.status_code == 201, created.text
    preview = await client.post(
        "/v1/templates/sms/cart_sms/preview",
        json={"customer": {"first_name": "Zoë"}, "event": {"properties": {"cart_id": "K9"}}},
    )
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert body["text"] == "Hi Zoë, your cart K9 is waiting"
    assert body["sms"] == {
        "encoding": "UCS-2",
        "characters": 31,
        "units": 31,
        "segments": 1,
        "non_gsm": ["ë"],
    }


async def test_preview_with_data_the_template_cannot_render_names_the_problem(
    client: httpx.AsyncClient,
) -> None:
    await create(client)
    response = await client.post(
        "/v1/templates/email/cart_email/preview", json={"customer": {"id": "c1"}}
    )
    assert response.status_code == 422
    assert [(p["loc"], p["msg"]) for p in response.json()["detail"]] == [
        (["template", "subject"], "line 1: 'customer.first_name' is undefined"),
        (["template", "html"], "line 1: 'customer.first_name' is undefined"),
    ]


async def test_preview_of_an_unknown_template_or_version_is_not_found(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.post("/v1/templates/sms/nope/preview")).status_code == 404
    await create(client)
    missing = await client.post("/v1/templates/email/cart_email/preview", json={"version": 9})
    assert missing.status_code == 404


async def test_validate_checks_a_draft_without_saving_it(client: httpx.AsyncClient) -> None:
    draft = {"channel": "sms", "text": "Hi {{ customer.first_name }} {{ data.code }}"}
    bad = (await client.post("/v1/templates/validate", json=draft)).json()
    assert bad["valid"] is False and bad["rendered"] is None
    assert [(p["loc"], p["msg"]) for p in bad["problems"]] == [
        (["body", "text"], "line 1: 'data.code' is undefined")
    ]

    good = await client.post("/v1/templates/validate", json={**draft, "data": {"code": "X1"}})
    body = good.json()
    assert (body["valid"], body["problems"]) == (True, [])
    assert body["rendered"] == {"subject": None, "text": "Hi Ada X1", "html": None}
    assert (body["sms"]["encoding"], body["sms"]["segments"]) == ("GSM-7", 1)
    assert (await client.get("/v1/templates")).json() == []


async def test_validate_requires_a_channel(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/templates/validate", json={"text": "x"})
    assert response.status_code == 422
    assert ("body", "channel") in locs(response)


async def test_a_malformed_path_is_a_422_naming_it(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/templates/e mail/x")
    assert response.status_code == 422
    assert ("path", "channel") in locs(response)
