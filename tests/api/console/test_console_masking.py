"""Issue 18.6 in the console: the prober's customer, whose id is an email address, as support and
admins see their page. Support finds them, follows links by reference, and reads no contact
detail anywhere in the page or its address; admins see everything as it is."""

from __future__ import annotations

from urllib.parse import quote

import httpx

from api.contacts.customer_refs import PREFIX
from tests.api.console.conftest import new_key
from tests.api.console.test_console_access import log_in
from tests.conftest import Store
from tests.support.contact_customers import seed_contact_customer


async def test_support_reaches_the_customer_by_reference_and_sees_no_contact_detail(
    app_client: httpx.AsyncClient, store: Store
) -> None:
    ada = await seed_contact_customer(store)
    await log_in(app_client, await new_key(store, "support"))

    found = await app_client.get("/console/search", params={"q": ada.customer_id})
    assert found.status_code == 303
    location = found.headers["location"]
    assert location.startswith(f"/console/customers/{PREFIX}")
    page = await app_client.get(location)
    by_id = await app_client.get(f"/console/customers/{quote(ada.customer_id, safe='')}")

    assert page.status_code == 200, page.text
    assert [c for c in ada.contacts if c in location or c in page.text] == []
    assert "a" + "*" * (len(ada.customer_id) - 13) + "@example.com" in page.text
    assert "+1 *** *** 0002" in page.text and "*** **** 0958" in page.text
    assert "Contact details are masked for your role (support)" in page.text
    assert by_id.status_code == 200 and [c for c in ada.contacts if c in by_id.text] == []


async def test_admins_see_the_customers_page_as_it_is(
    app_client: httpx.AsyncClient, store: Store
) -> None:
    ada = await seed_contact_customer(store)
    await log_in(app_client, await new_key(store, "admin"))

    found = await app_client.get("/console/search", params={"q": ada.customer_id})
    location = found.headers["location"]
    page = await app_client.get(location)

    assert location == f"/console/customers/{quote(ada.customer_id, safe='')}"
    assert page.status_code == 200
    assert [c for c in ada.contacts if c not in page.text] == []
