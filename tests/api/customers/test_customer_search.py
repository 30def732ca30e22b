"""GET /v1/customers: finding a customer by id, alias, email or phone, contacts masked by role."""

from __future__ import annotations

import uuid

import httpx

from journeys.settings import Settings
from journeys.store import customers
from tests.conftest import Store
from tests.support.api import serve
from tests.support.helpers import customer_id


async def add_customers(store: Store) -> tuple[str, str, str]:
    """Two profiles with their addresses, the first also known by an anonymous id."""
    ada, bob, anonymous = customer_id(), customer_id(), f"anon-{uuid.uuid4().hex[:8]}"
    async with store.sessions.begin() as session:
        await customers.merge_traits(
            session, ada, {"email": "Ada.Lovelace@example.com", "phone": "+15550000001"}
        )
        await customers.merge_traits(
            session, bob, {"email": "bob@example.org", "phone": "+44 20 7946 0958"}
        )
        await customers.link(session, anonymous, ada, source="identify")
    return ada, bob, anonymous


async def test_find_by_email_phone_id_or_alias(client: httpx.AsyncClient, store: Store) -> None:
    ada, bob, anonymous = await add_customers(store)

    async def found(**params: str) -> list[dict[str, str]]:
        response = await client.get("/v1/customers", params=params)
        assert response.status_code == 200, response.text
        return list(response.json()["customers"])

    by_email = await found(email=" Ada.Lovelace@example.com ")
    by_upper = await found(email="BOB@Example.org")
    by_phone = await found(phone="+1 555 000 0001")
    by_spaced = await found(phone="+44 20 7946 0958")
    by_alias = await found(q=anonymous)
    by_q_email = await found(q="bob@example.org")
    nobody = await found(q="nobody@example.com")

    assert by_email == [
        {
            "customer_id": ada,
            "customer_ref": ada,
            "matched": "email",
            "email": "Ada.Lovelace@example.com",
            "phone": "+15550000001",
            "timeline": f"/v1/customers/{ada}/timeline",
        }
    ]
    assert [(m["customer_id"], m["matched"]) for m in by_upper] == [(bob, "email")]
    assert [(m["customer_id"], m["matched"]) for m in by_phone] == [(ada, "phone")]
    assert [(m["customer_id"], m["matched"]) for m in by_spaced] == [(bob, "phone")]
    assert [(m["customer_id"], m["matched"]) for m in by_alias] == [(ada, "id")]
    assert [(m["customer_id"], m["matched"]) for m in by_q_email] == [(bob, "email")]
    assert nobody == []


async def test_support_sees_masked_contacts(store: Store, api_settings: Settings) -> None:
    ada, _bob, _anonymous = await add_customers(store)

    async with serve(api_settings, role="support") as support:
        response = await support.get("/v1/customers", params={"q": ada})

    assert response.status_code == 200
    (match,) = response.json()["customers"]
    assert (match["customer_id"], match["matched"]) == (ada, "id")
    assert match["email"] == "A***********@example.com"
    assert match["phone"] == "+1******0001"


async def test_exactly_one_non_empty_search_term(client: httpx.AsyncClient) -> None:
    none = await client.get("/v1/customers")
    two = await client.get("/v1/customers", params={"email": "a@example.com", "phone": "+1555"})
    empty = await client.get("/v1/customers", params={"q": "  "})
    too_long = await client.get("/v1/customers", params={"phone": "9" * 51})
    nul = await client.get("/v1/customers", params={"q": "c\x001"})
    nul_id = await client.get("/v1/customers/c%001/journeys")

    for response, where, field in (
        (none, "query", "q"),
        (two, "query", "phone"),
        (empty, "query", "q"),
        (too_long, "query", "phone"),
        (nul, "query", "q"),
        (nul_id, "path", "customer_id"),
    ):
        assert response.status_code == 422, response.text
        (error,) = response.json()["detail"]
        assert error["loc"] == [where, field]
