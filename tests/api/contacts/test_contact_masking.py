"""Issue 18.6: contact details masked by what they are, in every answer support reads.

The prober's customer (tests/support/contact_customers.py) has an email address as id and contact
details under names the old masking missed, nested too. Support and editors must find none of
them in any answer, yet follow every link to the customer; admins see everything as it is.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from api.contacts.customer_refs import PREFIX
from journeys.settings import Settings
from tests.conftest import Store
from tests.support.api import serve
from tests.support.contact_customers import ContactCustomer, seed_contact_customer


def leaked(response: httpx.Response, customer: ContactCustomer) -> list[str]:
    """The customer's contact details the answer shows in full."""
    assert response.status_code == 200, response.text
    return [contact for contact in customer.contacts if contact in response.text]


async def test_support_sees_no_contact_detail_in_a_customers_journeys(
    store: Store, api_settings: Settings
) -> None:
    ada = await seed_contact_customer(store)
    async with serve(api_settings, role="support") as support:
        found = await support.get("/v1/customers", params={"q": ada.customer_id})
        (match,) = found.json()["customers"]
        ref = match["customer_ref"]
        journeys = await support.get(f"/v1/customers/{quote(ref, safe='')}/journeys")
        by_id = await support.get(f"/v1/customers/{quote(ada.customer_id, safe='')}/journeys")

    assert leaked(found, ada) == []
    assert match["customer_id"] == "a" + "*" * (len(ada.customer_id) - 13) + "@example.com"
    assert ref.startswith(PREFIX)
    assert match["timeline"] == f"/v1/customers/{ref}/timeline"

    assert leaked(journeys, ada) == []
    body = journeys.json()
    assert (body["customer_id"], body["customer_ref"]) == (match["customer_id"], ref)
    traits = body["traits"]
    assert traits["phone_number"] == "+1 *** *** 0002"
    assert traits["mobile"] == "***** **0123"
    assert traits["emailAddress"] == f"a{'*' * (len(ada.tag) + 3)}@work.example"
    assert traits["email_address"].endswith("@home.example")
    assert traits["workEmail"].startswith("l*") and traits["workEmail"].endswith("@engine.example")
    assert traits["contact.tel"] == "+3* * ** ** 56 78"
    assert traits["contact"] == {"tel": "*** **** 0958", "fax": "******3333"}
    assert traits["billing.e-mail"].startswith("b*")
    assert traits["billing"]["e-mail"].startswith("i*")
    assert traits["notes"][0]["deep"]["text"].startswith("call +1 (***) ***-4444 or write to a*")
    # Not contact details: shown as they are.
    assert {k: traits[k] for k in ("plan", "orders", "zip", "signed_up", "score")} == {
        "plan": "pro",
        "orders": 1234567,
        "zip": "75008",
        "signed_up": "2026-11-23",
        "score": "12345.67",
    }
    (run,) = body["runs"]
    assert run["customer_id"] == match["customer_id"]
    assert run["customer_ref"] == ref
    assert run["workflow_id"] == f"journey/cart-recovery/{match['customer_id']}"
    assert "RunId" in run["temporal_ui"] and ada.run.run_id in run["temporal_ui"]
    (sms,) = run["deliveries"]
    assert sms["recipient"] == "+1******0001"
    audit = {row["seq"]: row for row in run["timeline"]}
    assert audit[2]["data"]["traits"] == {"phoneNumber": "+1 *** *** 0002"}
    assert journeys.json() == by_id.json(), "the id itself still finds them, masked alike"


async def test_support_sees_no_contact_detail_in_timelines_and_runs(
    store: Store, api_settings: Settings
) -> None:
    ada = await seed_contact_customer(store)
    async with serve(api_settings, role="support") as support:
        found = await support.get("/v1/customers", params={"q": ada.customer_id})
        (match,) = found.json()["customers"]
        timeline = await support.get(match["timeline"])
        run_timeline = await support.get(f"/v1/runs/{ada.run.run_id}/timeline")
        runs = await support.get("/v1/runs", params={"customer": match["customer_ref"]})
        dry_run = await support.post(
            "/v1/runs/cancel", json={"customer": match["customer_ref"], "dry_run": True}
        )

    for response in (found, timeline, run_timeline, runs):
        assert leaked(response, ada) == [], response.request.url
    assert dry_run.status_code == 403, "support may not cancel; editors are checked below"
    body = timeline.json()
    assert body["customer_id"] == match["customer_id"]
    (run,) = body["runs"]
    entries = {entry["kind"]: entry for entry in run["entries"]}
    assert entries["traits_updated"]["summary"].endswith(
        f"traits of {match['customer_id']} updated"
    )
    assert entries["sent"]["detail"]["recipient"] == "+1******0001"
    assert [r["run_id"] for r in runs.json()["runs"]] == [ada.run.run_id]
    assert runs.json()["runs"][0]["customer_id"] == match["customer_id"]
    assert run_timeline.json()["workflow_id"] == run["workflow_id"]


async def test_editors_are_masked_alike_and_follow_references(
    store: Store, api_settings: Settings
) -> None:
    ada = await seed_contact_customer(store)
    async with serve(api_settings, role="editor") as editor:
        found = await editor.get("/v1/customers", params={"q": ada.customer_id})
        ref = found.json()["customers"][0]["customer_ref"]
        runs = await editor.get("/v1/runs", params={"customer": ref})
        dry_run = await editor.post("/v1/runs/cancel", json={"customer": ref, "dry_run": True})

    assert leaked(runs, ada) == [] and leaked(dry_run, ada) == []
    assert [run["run_id"] for run in runs.json()["runs"]] == [ada.run.run_id]
    assert dry_run.json()["count"] == 0, "the run has ended: nothing active to cancel"


async def test_admins_see_contact_details_as_they_are(store: Store, api_settings: Settings) -> None:
    ada = await seed_contact_customer(store)
    async with serve(api_settings, role="admin") as admin:
        found = await admin.get("/v1/customers", params={"q": ada.customer_id})
        journeys = await admin.get(f"/v1/customers/{quote(ada.customer_id, safe='')}/journeys")

    (match,) = found.json()["customers"]
    assert (match["customer_id"], match["customer_ref"]) == (ada.customer_id, ada.customer_id)
    body: dict[str, Any] = journeys.json()
    assert body["customer_id"] == ada.customer_id
    assert body["traits"]["contact"] == {"tel": "020 7946 0958", "fax": "5550003333"}
    assert body["runs"][0]["workflow_id"] == f"journey/cart-recovery/{ada.customer_id}"
    assert [c for c in ada.contacts if c not in journeys.text] == []


async def test_a_forged_or_foreign_reference_finds_no_one(
    store: Store, api_settings: Settings
) -> None:
    await seed_contact_customer(store)
    async with serve(api_settings, role="support") as support:
        forged = await support.get(f"/v1/customers/{PREFIX}AAAAAAAAAAAAAAAAAAAAAAAAAAAA/timeline")
        too_long = await support.get(f"/v1/customers/{PREFIX}{'A' * 400}/timeline")

    assert forged.status_code == 404
    assert too_long.status_code == 422
    assert too_long.json()["detail"][0]["loc"] == ["path", "customer_id"]
