"""Marketing email carries its reader's unsubscribe links, as headers (RFC 8058) and as template
variables; transactional email carries none unless its template shows them. Sent by a real
worker through a real SMTP server (aiosmtpd)."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from journeys.delivery import unsubscribe
from journeys.settings import Environment, Settings
from tests.conftest import Store
from tests.support.fixtures import journeys_running
from tests.support.helpers import customer_id, deliveries_of, eventually, track
from tests.support.journeys.mail import MAIL_TEMPLATES, MailMix
from tests.support.mailbox import Inbox, body, smtp_server, smtp_settings

PUBLIC = "https://journeys.example.com"


@pytest.fixture
def mail() -> Iterator[tuple[Inbox, int]]:
    with smtp_server() as server:
        yield server


def mail_settings(store: Store, tmp_path: Path, port: int, **extra: object) -> Settings:
    folder = tmp_path / "templates"
    folder.mkdir(exist_ok=True)
    for name, source in MAIL_TEMPLATES.items():
        (folder / name).write_text(source)
    return store.settings.model_copy(
        update={
            **smtp_settings(port),
            "channel_providers": {**store.settings.channel_providers, "email": "smtp"},
            "templates_dir": folder,
            "email_tracking": True,
            **extra,
        }
    )


def by_subject(inbox: Inbox, subject: str) -> EmailMessage:
    (found,) = [m for m in inbox.messages if m["Subject"] == subject]
    return found


async def send_all(
    env: WorkflowEnvironment, settings: Settings, store: Store, customer: str
) -> None:
    async with journeys_running(env.client, settings, store.sessions, [MailMix]) as pipeline:
        await pipeline.route(track("Mail Mix", customer))

        async def all_concluded() -> None:
            deliveries = await deliveries_of(store.sessions, customer)
            assert len(deliveries) == 3
            assert all(d.status != "sending" for d in deliveries)

        await eventually(all_concluded, timeout=30)


async def test_marketing_email_has_one_click_headers_and_transactional_has_none(
    time_skipping: WorkflowEnvironment, store: Store, tmp_path: Path, mail: tuple[Inbox, int]
) -> None:
    inbox, port = mail
    settings = mail_settings(store, tmp_path, port)
    customer = customer_id()
    await send_all(time_skipping, settings, store, customer)
    assert {d.status for d in await deliveries_of(store.sessions, customer)} == {"sent"}

    promo = by_subject(inbox, "Our sale")
    links = promo["List-Unsubscribe"].replace(" ", "").replace("\n", "").split(",")
    assert links[0].startswith("<mailto:unsubscribe@shop.example.com?subject=unsubscribe%20")
    https = links[1].strip("<>")
    assert https.startswith(f"{PUBLIC}/u/")
    assert promo["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # The link names the customer and the send's group, and it is the one the template shows.
    recipient = unsubscribe.verify(settings, https.removeprefix(f"{PUBLIC}/u/"))
    assert (recipient.customer_id, recipient.channel, recipient.group) == (
        customer,
        "email",
        "newsletter",
    )
    lines = body(promo).splitlines()
    assert f"Leave: {https}" in lines
    assert f"Choose: {https}/preferences" in lines
    # Click tracking rewrote the shop's link but neither of ours.
    html = promo.get_body(preferencelist=("html",))
    assert html is not None
    markup = str(html.get_content())
    assert f'href="{https}"' in markup and f'href="{https}/preferences"' in markup
    assert 'href="https://shop.example.com/sale"' not in markup

    receipt = by_subject(inbox, "Your receipt")
    assert receipt["List-Unsubscribe"] is None and receipt["List-Unsubscribe-Post"] is None
    # A transactional template that shows the preference link asks for the headers too.
    notice = by_subject(inbox, "Your account")
    assert notice["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f"{PUBLIC}/u/" in notice["List-Unsubscribe"]


async def test_without_a_fit_secret_marketing_email_is_not_sent_outside_dev(
    time_skipping: WorkflowEnvironment, store: Store, tmp_path: Path, mail: tuple[Inbox, int]
) -> None:
    """The smtp provider refuses to start so (tests/journeys/delivery/channels/
    test_build_providers.py); a provider with no start-up check, such as console, meets the
    send's own: the marketing step fails naming the setting, transactional email goes out."""
    _, port = mail
    settings = mail_settings(
        store,
        tmp_path,
        port,
        env=Environment.PRODUCTION,
        email_tracking=False,
        tracking_secret=SecretStr(""),
        channel_providers={**store.settings.channel_providers, "email": "console"},
    )
    customer = customer_id()
    await send_all(time_skipping, settings, store, customer)
    outcome = {d.step: (d.status, d.reason) for d in await deliveries_of(store.sessions, customer)}
    status, reason = outcome["promo"]
    assert status == "failed"
    assert "unsubscribe link" in reason and "JOURNEYS_TRACKING_SECRET" in reason
    assert outcome["receipt"][0] == "sent"
    assert outcome["notice"][0] == "sent"
