"""The console's doors, server side: login and its cookie, redirects, roles and form tokens."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import httpx

from api.auth import SESSION_COOKIE
from api.contacts.masking import mask_email
from journeys.delivery.templates_catalog import seed_templates
from journeys.store.customers import merge_traits
from tests.api.console.conftest import new_key
from tests.conftest import Store
from tests.support.helpers import customer_id

TOKEN = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


def form_token(html: str) -> str:
    found = TOKEN.search(html)
    assert found is not None, "the page has no form token"
    return found.group(1)


async def log_in(client: httpx.AsyncClient, key: str) -> httpx.Response:
    page = await client.get("/console/login")
    return await client.post(
        "/console/login", data={"key": key, "csrf": form_token(page.text), "next": "/console/"}
    )


async def test_pages_send_a_visitor_without_login_to_the_login_and_back(
    app_client: httpx.AsyncClient, store: Store
) -> None:
    wanted = "/console/journeys?days=7"

    response = await app_client.get(wanted)

    assert response.status_code == 303
    location = urlsplit(response.headers["location"])
    assert location.path == "/console/login"
    assert parse_qs(location.query)["next"] == [wanted]
    login = await app_client.get(response.headers["location"])
    assert login.status_code == 200
    assert f'name="next" value="{wanted}"' in login.text.replace("&amp;", "&")
    key = await new_key(store, "support")
    logged_in = await app_client.post(
        "/console/login", data={"key": key, "csrf": form_token(login.text), "next": wanted}
    )
    assert (logged_in.status_code, logged_in.headers["location"]) == (303, wanted)
    assert (await app_client.get(wanted)).status_code == 200


async def test_login_sets_a_strict_http_only_console_cookie(
    app_client: httpx.AsyncClient, store: Store
) -> None:
    response = await log_in(app_client, await new_key(store, "editor"))

    assert response.status_code == 303
    (cookie,) = [
        c for c in response.headers.get_list("set-cookie") if c.startswith(f"{SESSION_COOKIE}=")
    ]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "samesite", "path", "max-age"} <= attributes
    assert "samesite=strict" in cookie.lower()
    assert "path=/console" in cookie.lower()
    assert "secure" not in attributes, "plain http: a Secure cookie would never come back"
    home = await app_client.get("/console/")
    assert home.status_code == 200
    assert "editor person" in home.text


async def test_login_refuses_a_wrong_key_an_empty_one_and_a_post_without_token(
    app_client: httpx.AsyncClient, store: Store
) -> None:
    page = await app_client.get("/console/login")
    token = form_token(page.text)

    wrong = await app_client.post("/console/login", data={"key": "jk_nope_nope", "csrf": token})
    empty = await app_client.post("/console/login", data={"key": " ", "csrf": token})
    forged = await app_client.post("/console/login", data={"key": await new_key(store, "admin")})

    assert wrong.status_code == 401
    assert "That key is not valid" in wrong.text
    assert empty.status_code == 400
    assert "key: paste your API key" in empty.text
    assert forged.status_code == 403
    assert "Form refused" in forged.text
    assert SESSION_COOKIE not in app_client.cookies


async def test_an_ingest_key_gets_a_page_saying_the_console_is_not_for_it(
    app_client: httpx.AsyncClient, store: Store
) -> None:
    ingest = await new_key(store, "ingest")

    by_login = await log_in(app_client, ingest)
    by_header = await app_client.get(
        "/console/journeys", headers={"Authorization": f"Bearer {ingest}"}
    )

    for response in (by_login, by_header):
        assert response.status_code == 403
        assert "Not a console key" in response.text
        assert "role 'ingest'" in html.unescape(response.text)
    assert SESSION_COOKIE not in app_client.cookies


async def test_a_forged_cancel_is_refused_and_support_may_not_cancel_at_all(
    app_client: httpx.AsyncClient, store: Store
) -> None:
    await log_in(app_client, await new_key(store, "support"))
    home = await app_client.get("/console/")
    token = form_token(home.text)

    forged = await app_client.post("/console/runs/r1/cancel", data={"reason": "spam"})
    wrong = await app_client.post(
        "/console/runs/r1/cancel", data={"reason": "spam", "csrf": "0" * 64}
    )
    as_support = await app_client.post(
        "/console/runs/r1/cancel", data={"reason": "spam", "csrf": token}
    )

    assert (forged.status_code, wrong.status_code) == (403, 403)
    assert "Form refused" in forged.text
    assert as_support.status_code == 403
    assert "Cancelling a run needs one of the roles admin, editor" in as_support.text


async def test_logout_needs_its_token_and_ends_the_session(
    app_client: httpx.AsyncClient, store: Store
) -> None:
    await log_in(app_client, await new_key(store, "support"))
    token = form_token((await app_client.get("/console/")).text)

    refused = await app_client.post("/console/logout")
    assert refused.status_code == 403
    response = await app_client.post("/console/logout", data={"csrf": token})

    assert response.status_code == 303
    assert response.headers["location"].startswith("/console/login")
    after = await app_client.get("/console/")
    assert after.status_code == 303
    assert after.headers["location"].startswith("/console/login")


async def test_login_never_sends_anyone_to_another_site(
    app_client: httpx.AsyncClient, store: Store
) -> None:
    targets = (
        "https://evil.example/",
        "//evil.example/console",
        "/console//evil.example",
        "/console\\/evil.example",
        "/console/\t/evil.example",
    )
    for target in targets:
        app_client.cookies.clear()
        page = await app_client.get("/console/login")
        response = await app_client.post(
            "/console/login",
            data={
                "key": await new_key(store, "support"),
                "csrf": form_token(page.text),
                "next": target,
            },
        )
        assert (response.status_code, response.headers["location"]) == (303, "/console/")


async def test_bad_input_gets_a_4xx_page_naming_the_field(
    app_client: httpx.AsyncClient, store: Store
) -> None:
    await seed_templates(store.sessions, store.settings)
    await log_in(app_client, await new_key(store, "support"))

    search = await app_client.get("/console/search", params={"q": "  "})
    nobody = await app_client.get("/console/search", params={"q": "nobody@example.com"})
    unknown = await app_client.get(f"/console/customers/{customer_id()}")
    days = await app_client.get("/console/journeys/cart-recovery", params={"days": "0"})
    traits = await app_client.get(
        "/console/templates/sms/cart_recovery_sms", params={"traits": "[1"}
    )

    assert search.status_code == 400
    assert "q: type a customer id" in search.text
    assert nobody.status_code == 404
    assert "No customer has this id" in nobody.text
    assert unknown.status_code == 404
    assert "No profile and no journey runs" in unknown.text
    assert days.status_code == 422
    assert "days:" in days.text
    assert traits.status_code == 400
    assert "traits: not valid JSON" in traits.text


async def test_pages_are_not_cached_framed_or_scripted(
    app_client: httpx.AsyncClient, store: Store
) -> None:
    await log_in(app_client, await new_key(store, "support"))

    response = await app_client.get("/console/templates")

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-frame-options"] == "DENY"
    assert "script-src 'none'" in response.headers["content-security-policy"]


async def test_search_lists_every_customer_an_email_matches_masked_for_support(
    app_client: httpx.AsyncClient, store: Store
) -> None:
    shared = f"family.{customer_id()}@example.com"
    first, second = sorted([customer_id(), customer_id()])
    async with store.sessions.begin() as session:
        for who in (first, second):
            await merge_traits(session, who, {"email": shared})
    await log_in(app_client, await new_key(store, "support"))

    response = await app_client.get("/console/search", params={"q": shared.upper()})

    assert response.status_code == 200
    page = html.unescape(response.text)
    assert page.index(first) < page.index(second)
    assert page.count(mask_email(shared)) == 2
    assert shared not in page


async def test_a_page_says_nothing_a_link_dictates(
    app_client: httpx.AsyncClient, store: Store
) -> None:
    """Notices are the console's own words: a crafted link cannot make a page say "call us"."""
    await log_in(app_client, await new_key(store, "support"))
    crafted = "Your key leaked: call +1 555 0100"

    home = await app_client.get("/console/", params={"notice": crafted})
    login = await app_client.get("/console/login", params={"notice": crafted, "logged_out": "1"})

    assert home.status_code == 200
    assert crafted not in html.unescape(home.text)
    assert crafted not in html.unescape(login.text)
    assert "You are logged out." in login.text
