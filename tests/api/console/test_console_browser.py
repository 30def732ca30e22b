"""The console in headless Chromium, as support, editors and admins use it, on real runs.

Runs are made for real: events go through NATS to the router, which starts the example
journeys on the Temporal dev server, where the worker runs them (the welcome email goes out at
once, the cart recovery waits 15 minutes). Each page visited is kept as a screenshot in
``.artifacts/console/``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from playwright.async_api import Page, expect
from sqlalchemy import select

from api.contacts.masking import mask_email, mask_phone
from journeys.delivery.templates_catalog import seed_templates
from journeys.ingest.events import Event
from journeys.store.models import JourneyRun, OperatorAction
from tests.api.console.conftest import Shots, new_key
from tests.conftest import Store
from tests.support.helpers import deliveries_of, eventually, runs_of
from tests.support.pipeline import Pipeline


@dataclass(frozen=True)
class Person:
    id: str
    email: str
    phone: str
    first_name: str


def event(name: str, person: Person, **properties: Any) -> Event:
    return Event.model_validate(
        {
            "type": "track",
            "event": name,
            "userId": person.id,
            "messageId": str(uuid.uuid4()),
            "properties": properties,
            "context": {
                "traits": {
                    "first_name": person.first_name,
                    "email": person.email,
                    "phone": person.phone,
                }
            },
        }
    )


async def customer_in_journeys(pipeline: Pipeline, store: Store) -> Person:
    """A customer who signed up (welcome email sent, waiting for Activated) and abandoned a
    cart (waiting 15 minutes): two active runs."""
    tag = uuid.uuid4().hex[:8]
    person = Person(f"c-{tag}", f"grace.{tag}@example.com", "+15550001234", "Grace")
    await pipeline.publish(event("Signed Up", person))
    await pipeline.publish(event("Cart Abandoned", person, cart_id="K9", total=19.9))

    async def both_running() -> None:
        runs = await runs_of(store.sessions, person.id)
        assert sorted((r.journey_key, r.status) for r in runs) == [
            ("cart-recovery", "active"),
            ("welcome-series", "active"),
        ]
        assert [(d.template, d.status) for d in await deliveries_of(store.sessions, person.id)] == [
            ("welcome_email", "sent")
        ]

    await eventually(both_running, timeout=60)
    return person


async def run_of(store: Store, person: Person, journey: str) -> JourneyRun:
    (run,) = [r for r in await runs_of(store.sessions, person.id) if r.journey_key == journey]
    return run


async def log_in(page: Page, url: str, key: str, shots: Shots | None = None) -> None:
    await page.goto(f"{url}/console/login")
    await page.fill("#key", key)
    if shots is not None:
        await shots.take(page, "login")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("button", name="Log out")).to_be_visible()


async def find(page: Page, query: str) -> None:
    await page.fill("#q", query)
    await page.press("#q", "Enter")
    await page.wait_for_url("**/console/customers/**")


async def test_support_finds_a_customer_by_email_and_reads_a_masked_timeline(
    page: Page, pipeline: Pipeline, console_url: str, store: Store, shots: Shots
) -> None:
    person = await customer_in_journeys(pipeline, store)
    await log_in(page, console_url, await new_key(store, "support"), shots)

    await find(page, person.email)

    await expect(page.locator("h1")).to_contain_text(person.id)
    await shots.take(page, "customer")
    main = page.locator("main")
    await expect(main).to_contain_text("Entered welcome-series v1 on Signed Up")
    await expect(main).to_contain_text("Entered cart-recovery v1 on Cart Abandoned")
    await expect(main).to_contain_text(f"Sent email welcome_email v1 to {mask_email(person.email)}")
    await expect(page.locator('td[data-trait="email"]')).to_have_text(mask_email(person.email))
    await expect(page.locator('td[data-trait="phone"]')).to_have_text(mask_phone(person.phone))
    html = await page.content()
    assert person.email not in html
    assert person.phone not in html
    runs = page.locator("article.run")
    await expect(runs).to_have_count(2)
    await expect(runs.first).to_contain_text("Open in Temporal Web UI")
    assert await page.get_by_role("button", name="Cancel run").count() == 0


async def test_admin_finds_a_customer_by_phone_and_sees_contacts_in_full(
    page: Page, pipeline: Pipeline, console_url: str, store: Store, shots: Shots
) -> None:
    person = await customer_in_journeys(pipeline, store)
    await log_in(page, console_url, await new_key(store, "admin"))

    await find(page, person.phone)

    await shots.take(page, "customer")
    await expect(page.locator('td[data-trait="email"]')).to_have_text(person.email)
    await expect(page.locator('td[data-trait="phone"]')).to_have_text(person.phone)
    await expect(page.locator("main")).to_contain_text(
        f"Sent email welcome_email v1 to {person.email}"
    )
    await expect(page.get_by_role("button", name="Cancel run")).to_have_count(2)


async def test_editor_cancels_an_active_run_and_sees_it_cancelled(
    page: Page, pipeline: Pipeline, console_url: str, store: Store, shots: Shots
) -> None:
    person = await customer_in_journeys(pipeline, store)
    cart = await run_of(store, person, "cart-recovery")
    await log_in(page, console_url, await new_key(store, "editor"))
    await find(page, person.id)
    article = page.locator(f"#run-{cart.id}")
    await expect(article).to_have_attribute("data-status", "active")

    await article.get_by_label("Reason for cancelling").fill("customer asked us to stop")
    await shots.take(page, "before-cancel")
    await article.get_by_role("button", name="Cancel run").click()

    await expect(page.locator(".notice")).to_contain_text("cancel")

    async def shown_cancelled() -> None:
        await page.reload()
        status = await page.locator(f"#run-{cart.id}").get_attribute("data-status")
        assert status == "cancelled"

    await eventually(shown_cancelled, timeout=30, interval=0.5)
    await shots.take(page, "after-cancel")
    assert await page.locator(f"#run-{cart.id}").get_by_role("button").count() == 0
    welcome = await run_of(store, person, "welcome-series")
    assert welcome.status == "active", "only the cancelled run ends"
    async with store.sessions() as session:
        logged = await session.scalars(
            select(OperatorAction).where(OperatorAction.target == f"run:{cart.id}")
        )
        actions = logged.all()
    assert [(row.action, row.actor_name, row.detail["reason"]) for row in actions] == [
        ("run.cancel", "editor person", "customer asked us to stop")
    ]


async def test_support_sees_no_cancel_button_and_a_forged_cancel_is_refused(
    page: Page, pipeline: Pipeline, console_url: str, store: Store, shots: Shots
) -> None:
    person = await customer_in_journeys(pipeline, store)
    cart = await run_of(store, person, "cart-recovery")
    await log_in(page, console_url, await new_key(store, "support"))
    await find(page, person.id)
    await expect(page.locator(f"#run-{cart.id}")).to_be_visible()
    assert await page.get_by_role("button", name="Cancel run").count() == 0

    # What another site could make the browser send: the session cookie, but no form token.
    forged = await page.request.post(
        f"{console_url}/console/runs/{cart.id}/cancel", form={"reason": "forged"}
    )

    assert forged.status == 403
    assert "Form refused" in await forged.text()
    await page.goto(f"{console_url}/console/customers/{quote(person.id)}")
    await shots.take(page, "customer")
    assert (await run_of(store, person, "cart-recovery")).status == "active"


async def test_journeys_list_and_a_journey_funnel(
    page: Page, pipeline: Pipeline, console_url: str, store: Store, shots: Shots
) -> None:
    await customer_in_journeys(pipeline, store)
    await log_in(page, console_url, await new_key(store, "support"))

    await page.get_by_role("link", name="Journeys", exact=True).click()
    row = page.locator('tr[data-journey="welcome-series"]')
    await expect(row.locator(".active-runs")).to_have_text("1")
    await shots.take(page, "journeys")
    await row.get_by_role("link", name="welcome-series").click()

    await expect(page.locator("h1")).to_contain_text("welcome-series")
    funnel = page.locator(".chart.funnel svg")
    await expect(funnel).to_have_count(1)
    assert await funnel.locator("rect").count() >= 1
    await expect(page.locator(".totals td.entered")).to_have_text("1")
    await expect(page.locator(".chart.series svg")).to_have_count(1)
    await shots.take(page, "journey")


async def test_template_preview_renders_sample_traits(
    page: Page, console_url: str, store: Store, shots: Shots
) -> None:
    await seed_templates(store.sessions, store.settings)
    await log_in(page, console_url, await new_key(store, "support"))
    await page.get_by_role("link", name="Templates", exact=True).click()
    await shots.take(page, "templates")

    await page.get_by_role("link", name="cart_recovery_sms").click()
    await page.fill("#traits", json.dumps({"first_name": "Linus"}))
    await page.fill("#properties", json.dumps({"cart_id": "K7", "total": 12.5}))
    await page.get_by_role("button", name="Preview").click()

    text = page.locator(".text-preview")
    await expect(text).to_contain_text("Hi Linus, your cart K7 is waiting (12.50 USD)")
    await expect(page.locator(".sms")).to_contain_text("GSM-7, 1 segment")
    await shots.take(page, "sms")

    await page.goto(f"{console_url}/console/templates/email/cart_recovery_email")
    await page.fill("#traits", json.dumps({"first_name": "Linus"}))
    await page.fill("#properties", json.dumps({"item_count": 3}))
    await page.get_by_role("button", name="Preview").click()
    await expect(page.locator(".subject")).to_have_text("Linus, you left something in your cart")
    frame = page.frame_locator("iframe.html-preview")
    await expect(frame.locator("body")).to_contain_text("You left 3 item(s) in your cart.")
    assert await page.locator("iframe.html-preview").get_attribute("sandbox") == ""
    await expect(text).to_contain_text("You left 3 item(s) in your cart.")
    await shots.take(page, "email")


async def test_wrong_key_shows_the_error_and_logout_ends_the_session(
    page: Page, console_url: str, store: Store, shots: Shots
) -> None:
    await page.goto(f"{console_url}/console/")
    await page.wait_for_url("**/console/login?next=*")
    await page.fill("#key", "jk_000000000000_not-a-key")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.locator(".error")).to_contain_text("That key is not valid")
    await shots.take(page, "wrong-key")

    await log_in(page, console_url, await new_key(store, "editor"))
    await shots.take(page, "home")
    await page.get_by_role("button", name="Log out").click()

    await page.wait_for_url("**/console/login*")
    await expect(page.locator(".notice")).to_have_text("You are logged out.")
    await shots.take(page, "logged-out")
    await page.goto(f"{console_url}/console/journeys")
    await page.wait_for_url("**/console/login?next=*")
    await expect(page.get_by_role("button", name="Log out")).to_have_count(0)
